package apt

import (
	"slices"
	"testing"
)

func TestPinWhereLocked(t *testing.T) {
	pins := map[string]string{"docker.io": "26.1.5+dfsg1-9", "runc": "1.1.15+ds1-2"}
	tests := []struct {
		name  string
		names []string
		want  []string
	}{
		{"locked and not", []string{"runc", "initramfs-tools", "docker.io"}, []string{"docker.io=26.1.5+dfsg1-9", "initramfs-tools", "runc=1.1.15+ds1-2"}},
		{"repeats once", []string{"runc", "runc", "mkosi", "mkosi"}, []string{"mkosi", "runc=1.1.15+ds1-2"}},
		{"none", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.names)
			got := PinWhereLocked(tt.names, pins)
			if !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("PinWhereLocked(%q) = %q, want %q", tt.names, got, tt.want)
			}
			if !slices.Equal(in, tt.names) {
				t.Errorf("PinWhereLocked changed its argument: %q, was %q", tt.names, in)
			}
		})
	}
}
