package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sampleReport is a report with one figure of each unit, a ratio, facts,
// a skipped figure and an error, as a run would make it.
func sampleReport() *Report {
	r := NewReport(time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC))
	r.Machine = Machine{Arch: "x86_64", CPUs: 2, CPUModel: "AMD EPYC", MemoryBytes: 24 << 30, OS: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0", Go: "go1.26.8"}
	r.Add(buildKey("x86_64", kindCold, "total_s"), unitSeconds, []float64{210.5, 190.25})
	r.Add(buildKey("x86_64", kindCold, "step.rootfs_s"), unitSeconds, []float64{120, 110})
	r.Add(buildKey("x86_64", kindCold, "peak_rss_bytes"), unitBytes, []float64{512 << 20, 600 << 20})
	r.Add(buildKey("x86_64", kindWarm, "total_s"), unitSeconds, []float64{40, 45, 50})
	r.Add("usrfs.tree.files", unitCount, []float64{14051})
	r.Add(usrfsKey(ours, "time_s"), unitSeconds, []float64{0.5, 0.7})
	r.Add(bootKey("x86_64", imgPlain, msMultiUser), unitSeconds, nil)
	r.Facts[reproFactKey("x86_64", "verdict")] = "identical: 2 builds"
	// A fact that starts with a digit is still text, left-aligned.
	r.Facts["build.x86_64.warm.caches"] = "2 run(s); rootfs reused in 2, tool root reused in 2, /usr image reused in 2"
	r.Skip(&bytes.Buffer{}, "build.aarch64.warm", "no cached rootfs")
	r.Errors["boot"] = "x86_64 plain boot 1: timeout\nconsole: ..."
	r.addRatios()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	sampleReport().WriteTable(&b, nil)
	golden(t, "table.golden", b.Bytes())
}

func TestWriteMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	sampleReport().WriteMarkdown(&b)
	golden(t, "table.md.golden", b.Bytes())
}

func TestReportJSONGolden(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bench.json")
	if err := sampleReport().WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "bench.json.golden", got)
}

func TestReportRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bench.json")
	r := sampleReport()
	if err := r.WriteJSON(p); err != nil {
		t.Fatal(err)
	}
	back, err := LoadReport(p)
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range r.Metrics {
		if got := back.Metrics[k]; got.Median != s.Median || got.N != s.N || got.Unit != s.Unit {
			t.Errorf("%s after a round trip = %+v; want %+v", k, got, s)
		}
	}
	if got := back.Ratios["build.x86_64.warm_over_cold"].Value; got != 45/200.375 {
		t.Errorf("warm_over_cold = %v; want %v", got, 45/200.375)
	}
}

func TestLoadReportSchema(t *testing.T) {
	p := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(p, []byte(`{"schema":"bulwark-bench/v0","metrics":{}}`), 0o644)
	if _, err := LoadReport(p); err == nil || !strings.Contains(err.Error(), "bulwark-bench/v0") {
		t.Errorf("LoadReport of another schema: err = %v; want it to name the schema", err)
	}
}

func TestBaselineDelta(t *testing.T) {
	base := sampleReport()
	cur := sampleReport()
	k := buildKey("x86_64", kindWarm, "total_s")
	cur.Add(k, unitSeconds, []float64{60})
	var b bytes.Buffer
	cur.WriteTable(&b, base)
	var line string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, k+" ") {
			line = l
		}
	}
	if !strings.HasSuffix(line, "+33.3% !") {
		t.Errorf("table line %q; want it to end in +33.3%% ! (60 s against 45 s)", line)
	}
	if !strings.Contains(b.String(), "vs baseline") {
		t.Error("table has no baseline column")
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		unit string
		v    float64
		want string
	}{
		{unitSeconds, 0.057, "57 ms"},
		{unitSeconds, 12.345, "12.35 s"},
		{unitSeconds, 158.04, "2m38s"},
		{unitSeconds, 210.55, "3m30.6s"},
		{unitBytes, 512 << 20, "512.0 MiB"},
		{unitBytes, 3 << 30, "3.00 GiB"},
		{unitCount, 14051, "14051"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatValue(tc.unit, tc.v); got != tc.want {
				t.Errorf("formatValue(%s, %v) = %q; want %q", tc.unit, tc.v, got, tc.want)
			}
		})
	}
}

// TestStableKeys pins the key names of the JSON: renaming one breaks
// every comparison against an older run, so it must be deliberate.
func TestStableKeys(t *testing.T) {
	got := []string{
		buildKey("x86_64", kindCold, "total_s"), buildKey("aarch64", kindWarm, "step."+stepKey("rootfs: install packages")+"_s"),
		imageKey("x86_64", "qcow2_bytes"), usrfsKey("squashfs-zstd", "size_bytes"), bootKey("aarch64", imgBulwark, msDockerTLS),
		plainKey("x86_64", "build_s"), firstbootKey("nodecfg", "time_s"), reproFactKey("x86_64", "verdict"),
		mkosiKey("x86_64", kindCold+".total_s"), mkosiKey("x86_64", kindWarm+".total_s"), buildRatioKey("x86_64", kindCold+".bulwark_over_mkosi"),
	}
	want := []string{
		"build.x86_64.cold.total_s", "build.aarch64.warm.step.rootfs_s",
		"image.x86_64.qcow2_bytes", "usrfs.squashfs-zstd.size_bytes", "boot.aarch64.bulwark.dockerd_tls_s",
		"plain.x86_64.build_s", "firstboot.nodecfg.time_s", "repro.x86_64.verdict",
		"build.x86_64.mkosi.cold.total_s", "build.x86_64.mkosi.warm.total_s", "build.x86_64.cold.bulwark_over_mkosi",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d = %q; want %q", i, got[i], want[i])
		}
	}
	var m map[string]any
	b, _ := json.Marshal(sampleReport())
	json.Unmarshal(b, &m)
	for _, k := range []string{"schema", "date", "machine", "source", "settings", "plan", "metrics", "ratios", "facts", "notes", "skipped", "errors"} {
		if _, ok := m[k]; !ok {
			t.Errorf("bench.json has no top-level %q", k)
		}
	}
}

func TestStepKey(t *testing.T) {
	for in, want := range map[string]string{
		"rootfs: install packages":                                 "rootfs",
		"security: SELinux modules, seccomp profiles, audit rules": "security",
		"outputs: qcow2, manifest":                                 "outputs",
		"no colon here":                                            "no-colon-here",
	} {
		if got := stepKey(in); got != want {
			t.Errorf("stepKey(%q) = %q; want %q", in, got, want)
		}
	}
}
