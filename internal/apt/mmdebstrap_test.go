package apt

import (
	"slices"
	"testing"
)

func TestMmdebstrapArgs(t *testing.T) {
	for _, tc := range []struct {
		name, variant, arch string
		include             []string
		want                []string
	}{
		{"rootfs", "essential", "arm64", []string{"a=1", "b=2"}, []string{"--mode=root", "--variant=essential", "--format=directory",
			"--architectures=arm64", `--aptopt=APT::Install-Recommends "false"`, "--dpkgopt=force-unsafe-io", "--include=a=1,b=2"}},
		{"plain", "apt", "amd64", []string{"docker.io"}, []string{"--mode=root", "--variant=apt", "--format=directory",
			"--architectures=amd64", `--aptopt=APT::Install-Recommends "false"`, "--dpkgopt=force-unsafe-io", "--include=docker.io"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MmdebstrapArgs(tc.variant, tc.arch, tc.include); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
