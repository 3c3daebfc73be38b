//go:build qemu && secureboot

package qemu_test

import (
	"testing"
	"time"
)

func init() {
	registry = append(registry,
		vmTest{
			name:       "secure-boot-enforced",
			arches:     []string{"x86_64"},
			timeout:    120 * time.Second,
			secureBoot: true,
			setup:      func(t *testing.T, e *env, r *run) { useSigned(t, e, r) },
			guestRun:   "^(TestArchitecture|TestSecureBoot|TestUsrIsReadOnlyVerity|TestSELinuxMode|TestNoSELinuxDenials)$",
			guestArgs:  func(e *env, r *run) []string { return []string{"-selinux-mode", selinuxMode(e)} },
		},
		vmTest{
			name:       "secure-boot-refuses-foreign-uki",
			arches:     []string{"x86_64"},
			timeout:    90 * time.Second,
			secureBoot: true,
			setup:      foreignUKI,
			guestRun:   "TestArchitecture",
			wantFail:   "fatal console pattern secure boot refusal",
		},
		vmTest{
			name:       "secure-boot-refuses-changed-uki",
			arches:     []string{"x86_64"},
			timeout:    90 * time.Second,
			secureBoot: true,
			setup:      changeUKIByte,
			guestRun:   "TestArchitecture",
			wantFail:   "fatal console pattern secure boot refusal",
		},
	)
}
