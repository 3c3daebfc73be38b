package runlog

import (
	"slices"
	"testing"
)

func TestLastLines(t *testing.T) {
	tests := []struct {
		name       string
		s          string
		n          int
		want       []string
		wantBefore int
	}{
		{"fewer than n", "a\nb\n", 5, []string{"a", "b"}, 0},
		{"exactly n", "a\nb\nc", 3, []string{"a", "b", "c"}, 0},
		{"more than n", "a\nb\nc\nd\n\n", 2, []string{"c", "d"}, 2},
		{"empty", "", 3, []string{""}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, before := LastLines(tt.s, tt.n)
			if !slices.Equal(got, tt.want) || before != tt.wantBefore {
				t.Errorf("LastLines(%q, %d) = %q, %d; want %q, %d", tt.s, tt.n, got, before, tt.want, tt.wantBefore)
			}
		})
	}
}
