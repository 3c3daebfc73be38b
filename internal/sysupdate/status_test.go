package sysupdate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadStatus(t *testing.T) {
	for _, tc := range []struct {
		name, list, bless, running string
		listErr                    error
		want                       Status
		wantErr                    string
	}{
		{"one version", `{"current":"1","all":["1"],"appstreamUrls":[]}`, "clean\n", "1", nil,
			Status{Running: "1", Newest: "1", Installed: []string{"1"}, Boot: "clean"}, ""},
		{"updated, being assessed", `{"current":"2","all":["2","1"]}`, "indeterminate\n", "2", nil,
			Status{Running: "2", Newest: "2", Installed: []string{"1", "2"}, Boot: "indeterminate"}, ""},
		// sysupdate's "current" is the newest installed: right after an
		// update it is not what runs.
		{"update installed, not booted", `{"current":"2","all":["2","1"]}`, "clean\n", "1", nil,
			Status{Running: "1", Newest: "2", Installed: []string{"1", "2"}, Boot: "clean"}, ""},
		{"not sysupdate's JSON", `Discovering…`, "good", "1", nil, Status{}, "reading systemd-sysupdate's list"},
		{"sysupdate fails", ``, "good", "1", errors.New("exit status 1"), Status{}, "listing installed versions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(_ context.Context, name string, args ...string) ([]byte, error) {
				if name == SysupdateBin {
					if strings.Join(args, " ") != "--offline --json=short list" {
						t.Errorf("sysupdate called with %q", args)
					}
					return []byte(tc.list), tc.listErr
				}
				return []byte(tc.bless), nil
			}
			st, err := ReadStatus(context.Background(), run, tc.running)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Running != tc.want.Running || st.Newest != tc.want.Newest || strings.Join(st.Installed, ",") != strings.Join(tc.want.Installed, ",") || st.Boot != tc.want.Boot {
				t.Errorf("got %+v, want %+v", st, tc.want)
			}
		})
	}
	st := Status{Running: "2", Newest: "2", Installed: []string{"1", "2"}, Boot: "indeterminate"}
	if st.Other() != "1" || st.Blessed() || !strings.Contains(st.String(), "NOT YET BLESSED") {
		t.Errorf("%+v: other %q blessed %v\n%s", st, st.Other(), st.Blessed(), st)
	}
	st = Status{Running: "1", Newest: "2", Installed: []string{"1", "2"}, Boot: "clean"}
	if st.Other() != "2" || !strings.Contains(st.String(), "next boot:       2 (newer") {
		t.Errorf("%+v: other %q\n%s", st, st.Other(), st)
	}
}

func TestRunningVersion(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ text, want, wantErr string }{
		"quoted":     {"ID=debian\nIMAGE_VERSION=\"1.2\"\n", "1.2", ""},
		"plain":      {"IMAGE_VERSION=2026.11.28\n", "2026.11.28", ""},
		"no version": {"ID=debian\n", "", "no IMAGE_VERSION"},
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(tc.text), 0o644)
		got, err := RunningVersion(p)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want %q", name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, tc.want)
		}
	}
}
