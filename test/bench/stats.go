package main

import (
	"math"
	"slices"
	"time"
)

// Units of a figure. They are part of the JSON schema: a key keeps its unit.
const (
	unitSeconds = "s"
	unitBytes   = "bytes"
	unitCount   = "count"
)

// Summary is one figure over several runs: the median is the headline, min
// and max show the spread, runs keeps every measurement in run order.
type Summary struct {
	Unit   string    `json:"unit"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	N      int       `json:"n"`
	Runs   []float64 `json:"runs"`
}

// Summarize reduces runs to a Summary. An empty run list gives N == 0 and
// zero figures, which the table shows as missing rather than as 0.
func Summarize(unit string, runs []float64) Summary {
	s := Summary{Unit: unit, N: len(runs), Runs: append([]float64(nil), runs...)}
	if len(runs) == 0 {
		return s
	}
	sorted := slices.Clone(runs)
	slices.Sort(sorted)
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.Median = median(sorted)
	return s
}

// median of an already sorted, non-empty slice: the middle value, or the
// mean of the two middle values for an even count.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Ratio compares two figures of the same run by their medians.
type Ratio struct {
	Value float64 `json:"value"` // median of Num / median of Den
	Num   string  `json:"num"`   // metric key
	Den   string  `json:"den"`   // metric key
}

// ratioOf returns num.Median/den.Median, or false when either is missing
// or the denominator is zero.
func ratioOf(num, den Summary) (float64, bool) {
	if num.N == 0 || den.N == 0 || den.Median == 0 {
		return 0, false
	}
	v := num.Median / den.Median
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// seconds converts durations to the float seconds the report stores,
// rounded to the millisecond so the JSON stays readable.
func seconds(ds ...time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = math.Round(d.Seconds()*1000) / 1000
	}
	return out
}
