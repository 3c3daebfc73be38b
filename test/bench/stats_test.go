package main

import (
	"slices"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name             string
		runs             []float64
		median, min, max float64
	}{
		{"one run", []float64{3}, 3, 3, 3},
		{"odd count takes the middle", []float64{5, 1, 3}, 3, 1, 5},
		{"even count takes the mean of the middle two", []float64{4, 1, 3, 10}, 3.5, 1, 10},
		{"outlier does not move the median", []float64{1, 1, 1, 100, 1}, 1, 1, 100},
		{"equal runs", []float64{2, 2}, 2, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.runs)
			s := Summarize(unitSeconds, in)
			if s.Median != tc.median || s.Min != tc.min || s.Max != tc.max || s.N != len(tc.runs) {
				t.Errorf("Summarize(%v) = median %v min %v max %v n %d; want %v %v %v %d", tc.runs, s.Median, s.Min, s.Max, s.N, tc.median, tc.min, tc.max, len(tc.runs))
			}
			if !slices.Equal(s.Runs, tc.runs) || !slices.Equal(in, tc.runs) {
				t.Errorf("runs = %v, input now %v; want both %v in run order", s.Runs, in, tc.runs)
			}
		})
	}
	t.Run("no runs", func(t *testing.T) {
		if s := Summarize(unitBytes, nil); s.N != 0 || s.Median != 0 || s.Unit != unitBytes {
			t.Errorf("Summarize(nil) = %+v; want n 0, median 0, unit bytes", s)
		}
	})
}

func TestRatioOf(t *testing.T) {
	tests := []struct {
		name     string
		num, den Summary
		want     float64
		ok       bool
	}{
		{"medians", Summarize(unitSeconds, []float64{2, 4, 6}), Summarize(unitSeconds, []float64{1, 2, 3}), 2, true},
		{"missing numerator", Summary{}, Summarize(unitSeconds, []float64{1}), 0, false},
		{"missing denominator", Summarize(unitSeconds, []float64{1}), Summary{}, 0, false},
		{"zero denominator", Summarize(unitSeconds, []float64{1}), Summarize(unitSeconds, []float64{0}), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ratioOf(tc.num, tc.den)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ratioOf = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSeconds(t *testing.T) {
	got := seconds(1500*time.Millisecond, 1234567*time.Microsecond, 0)
	want := []float64{1.5, 1.235, 0}
	if !slices.Equal(got, want) {
		t.Errorf("seconds = %v; want %v", got, want)
	}
}
