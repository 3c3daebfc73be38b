package main

import (
	"strings"
	"testing"
)

func TestGuestArgsNameEachArchsCPU(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		kvm      bool
		x86, a64 string // the -cpu each guest gets
		x86Accel string
	}{
		{name: "x86_64 host, TCG", host: "x86_64", x86: "max,erms=off,fsrm=off", a64: "max,pauth-impdef=on", x86Accel: "tcg,thread=single"},
		{name: "x86_64 host, KVM: only its own arch", host: "x86_64", kvm: true, x86: "host", a64: "max,pauth-impdef=on", x86Accel: "kvm"},
		{name: "aarch64 host, KVM", host: "aarch64", kvm: true, x86: "max,erms=off,fsrm=off", a64: "host", x86Accel: "tcg,thread=single"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := guestArgs(tc.host, tc.kvm)
			if got := guestCPU(g["x86_64"]); got != tc.x86 {
				t.Errorf("x86_64 guest CPU = %q, want %q (%s)", got, tc.x86, g["x86_64"])
			}
			if got := guestCPU(g["aarch64"]); got != tc.a64 {
				t.Errorf("aarch64 guest CPU = %q, want %q (%s)", got, tc.a64, g["aarch64"])
			}
			if !strings.Contains(g["x86_64"], "-accel "+tc.x86Accel) {
				t.Errorf("x86_64 guest args %q lack -accel %s", g["x86_64"], tc.x86Accel)
			}
		})
	}
}

func TestDescribeNamesGuestCPUs(t *testing.T) {
	m := Machine{Arch: "x86_64", CPUs: 2, CPUModel: "AMD EPYC", Go: "go1.26.8", Guests: guestArgs("x86_64", false)}
	d := m.Describe()
	if !strings.HasSuffix(d, "; guest CPUs: aarch64 max,pauth-impdef=on, x86_64 max,erms=off,fsrm=off") {
		t.Errorf("Describe() = %q: no guest CPUs at its end", d)
	}
	m.Guests = nil
	if strings.Contains(m.Describe(), "guest CPUs") {
		t.Errorf("Describe() without Guests = %q names guest CPUs", m.Describe())
	}
}
