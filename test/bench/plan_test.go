package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o *Options)
	}{
		{"defaults", nil, func(t *testing.T, o *Options) {
			if !slices.Equal(o.Sections, sections) || o.Runs != defaultRuns || !slices.Equal(o.Writers, defaultWriters) {
				t.Errorf("sections %v runs %+v writers %v; want all, the defaults", o.Sections, o.Runs, o.Writers)
			}
		}},
		{"only and runs", []string{"-only", "usrfs,firstboot", "-runs", "3"}, func(t *testing.T, o *Options) {
			if !slices.Equal(o.Sections, []string{"usrfs", "firstboot"}) {
				t.Errorf("sections = %v", o.Sections)
			}
			if o.Runs.Usrfs != 3 || o.Runs.Firstboot != 3 || o.Runs.Cold != 3 {
				t.Errorf("runs = %+v; want 3 everywhere", o.Runs)
			}
		}},
		{"a per-figure flag beats -runs", []string{"-runs", "5", "-cold-runs", "1"}, func(t *testing.T, o *Options) {
			if o.Runs.Cold != 1 || o.Runs.Warm != 5 {
				t.Errorf("runs = %+v; want cold 1, the rest 5", o.Runs)
			}
		}},
		{"skip", []string{"-skip", "boot,build"}, func(t *testing.T, o *Options) {
			if o.Selected("boot") || o.Selected("build") || !o.Selected("usrfs") {
				t.Errorf("sections = %v; want all but boot and build", o.Sections)
			}
		}},
		{"paths are absolute", []string{"-cache", "c"}, func(t *testing.T, o *Options) {
			if !strings.HasPrefix(o.Cache, "/") || o.Work != o.Cache+"/bench-work" {
				t.Errorf("cache %q work %q; want absolute, work under cache", o.Cache, o.Work)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
	for _, bad := range [][]string{{"-only", "bogus"}, {"-arch", "riscv64"}, {"-usrfs-writers", "ext4"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): no error", bad)
		}
	}
}

func TestPlan(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	in := planInput{usrBytes: 600 << 20, plainCached: map[string]bool{}, rootfsCached: map[string]bool{"x86_64": true, "aarch64": true}}
	p := Plan(o, in)
	var whats []string
	for _, it := range p {
		whats = append(whats, it.What)
	}
	all := strings.Join(whats, "\n")
	for _, want := range []string{"x86_64 cold build", "aarch64 warm build", "x86_64 plain Debian image", "aarch64 boot of the Bulwark image"} {
		if !strings.Contains(all, want) {
			t.Errorf("default plan lacks %q:\n%s", want, all)
		}
	}
	for _, unwanted := range []string{"aarch64 cold build", "aarch64 plain Debian image", "aarch64 boot of the plain"} {
		if strings.Contains(all, unwanted) {
			t.Errorf("default plan has opt-in %q", unwanted)
		}
	}
	if total := PlanTotal(p); total > 45*time.Minute {
		t.Errorf("default plan is estimated at %s; it must fit the 45 minute budget", total)
	}
	in.rootfsCached["aarch64"] = false
	if got := PlanTotal(Plan(o, in)); got != PlanTotal(p)+estColdA64 {
		t.Errorf("without a cached aarch64 rootfs the plan takes %s; want the cold build's %s more than %s", got, estColdA64, PlanTotal(p))
	}
	in.rootfsCached["aarch64"] = true
	in.plainCached["x86_64"] = true
	if cached := PlanTotal(Plan(o, in)); cached != PlanTotal(p)-estPlainX86 {
		t.Errorf("with the plain image cached the plan takes %s; want %s less than %s", cached, estPlainX86, PlanTotal(p))
	}
	in.plainCached["aarch64"] = true
	all = ""
	for _, it := range Plan(o, in) {
		all += it.What + "\n"
	}
	if !strings.Contains(all, "aarch64 boot of the plain") || strings.Contains(all, "aarch64 plain Debian image") {
		t.Errorf("with the plain aarch64 image cached, the plan should boot it without building it:\n%s", all)
	}
	in.plainCached["aarch64"] = false
	o.Aarch64Cold, o.PlainAarch64 = true, true
	all = ""
	for _, it := range Plan(o, in) {
		all += it.What + "\n"
	}
	if !strings.Contains(all, "aarch64 cold build") || !strings.Contains(all, "aarch64 boot of the plain") {
		t.Errorf("opt-ins not planned:\n%s", all)
	}
}

func TestPrintPlanWarnsOverBudget(t *testing.T) {
	var b strings.Builder
	PrintPlan(&b, []PlanItem{{Section: "build", What: "x", Runs: 1, Estimate: 3600}}, 45*time.Minute, []string{"a note"})
	if !strings.Contains(b.String(), "warning") || !strings.Contains(b.String(), "- a note") {
		t.Errorf("plan output lacks the warning or the note:\n%s", b.String())
	}
}

func TestPlanMkosi(t *testing.T) {
	in := planInput{usrBytes: 600 << 20, plainCached: map[string]bool{}, rootfsCached: map[string]bool{}}
	mkosiItems := func(args ...string) []PlanItem {
		t.Helper()
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return slices.DeleteFunc(Plan(o, in), func(it PlanItem) bool { return it.Section != "mkosi" })
	}
	tests := []struct {
		name        string
		args        []string
		toolsCached bool
		want        []string // What prefixes, in order, with their runs
		runs        []int
	}{
		{"default", nil, false, []string{"mkosi's tool root", "x86_64 mkosi cold", "x86_64 mkosi warm"}, []int{1, 1, 2}},
		{"tool root cached", []string{"-only", "mkosi"}, true, []string{"x86_64 mkosi cold", "x86_64 mkosi warm"}, []int{1, 2}},
		{"runs flags", []string{"-only", "mkosi", "-mkosi-cold-runs", "2", "-mkosi-warm-runs", "3"}, true, []string{"x86_64 mkosi cold", "x86_64 mkosi warm"}, []int{2, 3}},
		{"-runs sets both", []string{"-only", "mkosi", "-runs", "4"}, true, []string{"x86_64 mkosi cold", "x86_64 mkosi warm"}, []int{4, 4}},
		{"warm only still fills the cache once", []string{"-only", "mkosi", "-mkosi-cold-runs", "0"}, true, []string{"x86_64 mkosi cold", "x86_64 mkosi warm"}, []int{1, 2}},
		{"not selected", []string{"-skip", "mkosi"}, false, nil, nil},
		{"aarch64 only", []string{"-arch", "aarch64"}, false, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.mkosiToolsCached = tc.toolsCached
			got := mkosiItems(tc.args...)
			if len(got) != len(tc.want) {
				t.Fatalf("mkosi plan = %+v; want %q", got, tc.want)
			}
			for i, it := range got {
				if !strings.HasPrefix(it.What, tc.want[i]) || it.Runs != tc.runs[i] || it.Estimate <= 0 {
					t.Errorf("item %d = %+v; want %q × %d with an estimate", i, it, tc.want[i], tc.runs[i])
				}
			}
		})
	}
}
