package main

import (
	"strings"
)

// The metric keys of bench.json. They are the schema: keep them stable,
// and list new ones in test/bench/README.md.

func buildKey(arch, kind, what string) string { return "build." + arch + "." + kind + "." + what }

// stepKey turns an osbuild step name ("rootfs: install packages") into its
// key component ("rootfs"): the part before the colon is the step's stable
// short name.
func stepKey(step string) string {
	s, _, _ := strings.Cut(step, ":")
	return strings.ReplaceAll(strings.TrimSpace(s), " ", "-")
}

func imageKey(arch, what string) string      { return "image." + arch + "." + what }
func usrfsKey(writer, what string) string    { return "usrfs." + writer + "." + what }
func bootKey(arch, img, what string) string  { return "boot." + arch + "." + img + "." + what }
func plainKey(arch, what string) string      { return "plain." + arch + "." + what }
func firstbootKey(tool, what string) string  { return "firstboot." + tool + "." + what }
func reproFactKey(arch, what string) string  { return "repro." + arch + "." + what }
func boot2Key(arch, what string) string      { return "boot." + arch + "." + what }
func buildRatioKey(arch, what string) string { return "build." + arch + "." + what }

// mkosiKey names a figure of the mkosi anchor: build.<arch>.mkosi.<what>.
func mkosiKey(arch, what string) string { return "build." + arch + ".mkosi." + what }

// Build kinds.
const (
	kindCold        = "cold"
	kindWarm        = "warm"
	kindIncremental = "incremental"
)

// Images a boot compares.
const (
	imgBulwark = "bulwark"
	imgPlain   = "plain"
	imgBefore  = "before" // -before: an earlier build of the same spec
)

// Boot milestones.
const (
	msMultiUser = "multi_user_s"
	msDockerTLS = "dockerd_tls_s"
)

// addRatios derives every comparison from figures of this run.
func (r *Report) addRatios() {
	for _, a := range []string{"x86_64", "aarch64"} {
		r.AddRatio(buildRatioKey(a, "warm_over_cold"), buildKey(a, kindWarm, "total_s"), buildKey(a, kindCold, "total_s"))
		r.AddRatio(buildRatioKey(a, "incremental_over_warm"), buildKey(a, kindIncremental, "total_s"), buildKey(a, kindWarm, "total_s"))
		for _, k := range []string{kindCold, kindWarm} {
			r.AddRatio(buildRatioKey(a, k+".bulwark_over_mkosi"), buildKey(a, k, "total_s"), mkosiKey(a, k+".total_s"))
		}
		r.AddRatio(mkosiKey(a, "warm_over_cold"), mkosiKey(a, kindWarm+".total_s"), mkosiKey(a, kindCold+".total_s"))
		for _, ms := range []string{msMultiUser, msDockerTLS} {
			r.AddRatio(boot2Key(a, strings.TrimSuffix(ms, "_s")+".bulwark_over_plain"), bootKey(a, imgBulwark, ms), bootKey(a, imgPlain, ms))
			r.AddRatio(boot2Key(a, strings.TrimSuffix(ms, "_s")+".bulwark_over_before"), bootKey(a, imgBulwark, ms), bootKey(a, imgBefore, ms))
		}
		r.AddRatio(imageKey(a, "raw_allocated_over_plain"), imageKey(a, "raw_allocated_bytes"), plainKey(a, "raw_allocated_bytes"))
	}
	for _, w := range allWriters {
		if w == ours {
			continue
		}
		r.AddRatio(usrfsKey(w, "time_over_ours"), usrfsKey(w, "time_s"), usrfsKey(ours, "time_s"))
		r.AddRatio(usrfsKey(w, "size_over_ours"), usrfsKey(w, "size_bytes"), usrfsKey(ours, "size_bytes"))
	}
	r.AddRatio("firstboot.nodecfg_over_ignition", firstbootKey("nodecfg", "time_s"), firstbootKey("ignition", "time_s"))
}
