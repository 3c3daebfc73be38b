package sysupdate

import "testing"

func TestIsPayload(t *testing.T) {
	img := Image{Name: "container-host", Arch: "x86-64", Version: "2"}
	for _, tc := range []struct {
		file string
		want bool
	}{
		{img.USRFile("11c0f9f1-cc9a-d385-4b2d-a326a7a56a68"), true},
		{img.VerityFile("11c0f9f1-cc9a-d385-4b2d-a326a7a56a68"), true},
		{img.UKIFile(), true},
		{Image{Name: "container-host", Arch: "x86-64", Version: "1"}.UKIFile(), true},
		{Image{Name: "container-host", Arch: "arm64", Version: "2"}.UKIFile(), false},
		{Image{Name: "other", Arch: "x86-64", Version: "2"}.UKIFile(), false},
		{"container-host-x86_64.raw", false},
		{"container-host_.x86-64.efi", false},
		{"SHA256SUMS", false},
	} {
		if got := img.IsPayload(tc.file); got != tc.want {
			t.Errorf("IsPayload(%q) = %v, want %v", tc.file, got, tc.want)
		}
	}
}
