package sysupdate

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestReadStatus(t *testing.T) {
	for _, tc := range []struct {
		name, list, bless string
		listErr           error
		want              Status
		wantErr           string
	}{
		{"one version", `{"current":"1","all":["1"],"appstreamUrls":[]}`, "clean\n", nil,
			Status{Running: "1", Installed: []string{"1"}, Boot: "clean"}, ""},
		{"updated, being assessed", `{"current":"2","all":["2","1"]}`, "indeterminate\n", nil,
			Status{Running: "2", Installed: []string{"1", "2"}, Boot: "indeterminate"}, ""},
		{"not sysupdate's JSON", `Discovering…`, "good", nil, Status{}, "reading systemd-sysupdate's list"},
		{"sysupdate fails", ``, "good", errors.New("exit status 1"), Status{}, "listing installed versions"},
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
			st, err := ReadStatus(context.Background(), run)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Running != tc.want.Running || strings.Join(st.Installed, ",") != strings.Join(tc.want.Installed, ",") || st.Boot != tc.want.Boot {
				t.Errorf("got %+v, want %+v", st, tc.want)
			}
		})
	}
	st := Status{Running: "2", Installed: []string{"1", "2"}, Boot: "indeterminate"}
	if st.Other() != "1" || st.Blessed() || !strings.Contains(st.String(), "NOT YET BLESSED") {
		t.Errorf("%+v: other %q blessed %v\n%s", st, st.Other(), st.Blessed(), st)
	}
}
