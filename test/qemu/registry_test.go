//go:build qemu

package qemu_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark/bulwark/internal/arch"
	"github.com/bulwark/bulwark/internal/dockerfloor"
	"github.com/bulwark/bulwark/internal/layout"
	"github.com/bulwark/bulwark/internal/nodepaths"
	"github.com/bulwark/bulwark/internal/qemu/checkunit"
)

// registry lists the VM tests. Timeouts are for KVM; the harness scales
// them for TCG and for aarch64 (qemu.Scale).
var registry = []vmTest{
	{
		// The first boot of the image as built, with a minimal config, and
		// with one byte of /usr/bin/docker (the CLI, which nothing in this
		// boot runs) flipped on the disk: dm-verity must refuse that block
		// with EIO while the rest of /usr reads and the node boots clean.
		name:       "boot-verity-corruption",
		arches:     []string{"x86_64", "aarch64"},
		timeout:    90 * time.Second,
		ignition:   "minimal.ign",
		setup:      corruptUSR,
		guestTests: []string{"TestArchitecture", "TestUsrIsReadOnlyVerity", "TestRootGrown", "TestIgnitionVisible", "TestVerityCorruption", "TestEtcUpToDate", "TestVendorUnits", "TestSSHHostKeys", "TestSELinuxMode", "TestPolicyVersion", "TestSetIDPrograms", "TestNoPackageManager", "TestNoSELinuxDenials"},
		guestArgs: func(e *env, r *run) []string {
			last, mount := e.manifest.Layout.Get(layout.Root), "/"
			if d := e.manifest.Layout.Find(layout.Docker); d != nil {
				last, mount = d, nodepaths.DockerRoot
			}
			args := []string{"-selinux-mode", selinuxMode(e),
				"-min-root-bytes", strconv.FormatInt(last.Size, 10), "-grown-mount", mount,
				"-ignition-sha256", sha256File(filepath.Join(e.repo, "test/qemu/testdata/minimal.ign")),
				"-corrupt-offset", r.extra["offset"], "-corrupt-file", "/usr/bin/docker",
			}
			if e.spec != nil { // without -spec, TestVendorUnits fails: it has no units to check
				args = append(args, "-enabled-units", strings.Join(e.spec.Units.Enable, ","), "-masked-units", strings.Join(e.spec.Units.Mask, ","))
			}
			return args
		},
		host: checkSSHBanner,
	},
	{
		// A config written by hand, as another tool would: its daemon.json
		// has listeners and TLS but none of the floor, which the node adds.
		// (A reboot keeping a node's config is the update chain's second
		// boot, below.)
		name:       "node-handwritten",
		arches:     []string{"x86_64", "aarch64"},
		timeout:    240 * time.Second,
		guestTests: []string{"TestNodecfgApplied", "TestNodecfgRanOnce", "TestDockerUnixSocket", "TestContainerConfinement", "TestHostname", "TestWaitForHost", "TestSELinuxMode", "TestNoSELinuxDenials"},
		setup:      setupHandWrittenNode,
		guestArgs: func(e *env, r *run) []string {
			return []string{"-nodecfg-digest", r.extra["digest"], "-selinux-mode", selinuxMode(e), "-busybox", "busybox", "-hostname", nodeHostname}
		},
		host: checkNodeFromHost,
	},
	{
		// The image signed with a key set minted for the run: the firmware,
		// in setup mode, lets systemd-boot enroll the set, then boots it
		// with Secure Boot enforcing. Its node config carries a server
		// certificate from another CA, as a botched provisioning would:
		// nodecfg must refuse it and the node come up without the Docker
		// API (fail closed), Secure Boot or not.
		name:       "secure-boot-enforced-bad-certificate-fails-closed",
		arches:     []string{"x86_64", "aarch64"},
		timeout:    150 * time.Second,
		secureBoot: true,
		setup: func(t testing.TB, e *env, r *run) {
			useSigned(t, e, r)
			setupBadNode(t, e, r)
			floor := filepath.Join(r.dir, "floor.json")
			os.WriteFile(floor, dockerfloor.Embedded(), 0o644)
			r.extra["floor-sha256"] = sha256File(floor) // the image's /etc/docker/daemon.json
		},
		guestTests: []string{"TestArchitecture", "TestSecureBoot", "TestUsrIsReadOnlyVerity", "TestSELinuxMode", "TestDockerNotRunning", "TestNoNodeFilesWritten", "TestNoSELinuxDenials"},
		guestArgs: func(e *env, r *run) []string {
			return []string{"-selinux-mode", selinuxMode(e), "-base-daemon-sha256", r.extra["floor-sha256"]}
		},
		expect: expectFailedClosed,
	},
	{
		// After enrollment, a UKI signed by another key is refused.
		name:       "secure-boot-refuses-foreign-uki",
		arches:     []string{"x86_64", "aarch64"},
		timeout:    90 * time.Second,
		secureBoot: true,
		setup:      foreignUKI,
		guestTests: []string{"TestArchitecture"},
		wantFail:   "fatal console pattern secure boot refusal",
	},
	{
		// ... and so is the image's own UKI with one byte changed.
		name:       "secure-boot-refuses-changed-uki",
		arches:     []string{"x86_64", "aarch64"},
		timeout:    90 * time.Second,
		secureBoot: true,
		setup:      changeUKIByte,
		guestTests: []string{"TestArchitecture"},
		wantFail:   "fatal console pattern secure boot refusal",
	},
	{
		// One node's life: v1 first boots with a rendered TLS and authz
		// config and is checked from inside and outside (the security
		// floor, authz, SELinux, seccomp, audit, lxcfs), then refuses bad
		// update payloads and takes v2; v2 (a reboot: the config is kept,
		// not applied again) runs blessed with v1's state and takes v3,
		// whose docker cannot start; the node reboots itself until
		// systemd-boot falls back to v2. The timeout is per boot.
		name:       "node-tls-authz-update-rollback",
		arches:     []string{"x86_64", "aarch64"},
		timeout:    420 * time.Second,
		guestTests: slices.Concat(chainV1Tests, chainV2Tests, chainRollbackTests),
		chain:      runUpdateChain,
	},
	{
		name:       "failed-unit-is-reported",
		arches:     []string{"x86_64"},
		timeout:    90 * time.Second,
		guestTests: []string{"TestArchitecture"},
		creds:      checkunit.FailingUnit(),
		wantFail:   "bulwark-broken.service",
	},
	{
		name:       "panic-fails-fast",
		arches:     []string{"x86_64"},
		timeout:    90 * time.Second,
		guestTests: []string{"TestArchitecture"},
		creds:      checkunit.Panic(),
		wantFail:   "fatal console pattern kernel panic",
	},
}

// nodeTLSAuthzTests are the guest checks of a node configured by a rendered
// TLS and authz config (the update chain's first boot), with
// nodeTLSAuthzArgs their flags; the host's side is checkNodeFromHost.
var nodeTLSAuthzTests = []string{"TestNodecfgApplied", "TestDockerUnixSocket", "TestApplyTiming", "TestSELinuxMode", "TestContainerConfinement", "TestHostname",
	"TestStrictSeccompProfile", "TestLxcfsSurvivesReload", "TestAuditRules", "TestDockerFileModes", "TestDockerOwnFilesystem", "TestUsernsRemap", "TestContentTrustInLoginShells", "TestWaitForHost",
	"TestAuthzLoad", "TestAuthzPluginKilled", "TestAuthzPolicyReload", "TestServiceDomains", "TestDomainRefusals", "TestAuthzRefusedShadow", "TestNoSELinuxDenials"}

func nodeTLSAuthzArgs(e *env, r *run) []string {
	return []string{"-nodecfg-digest", r.extra["digest"], "-selinux-mode", selinuxMode(e),
		"-busybox", "busybox", "-audit-rules", "audit.rules", "-hostname", nodeHostname,
		"-authz-ca", authzCheckCA, "-authz-cert", authzCheckCert, "-authz-key", authzCheckKey, "-authz-load", "1000"}
}

// selinuxMode is the mode the image's kernel command line asks for.
func selinuxMode(e *env) string {
	if slices.Contains(strings.Fields(e.manifest.Cmdline), "enforcing=1") {
		return "enforcing"
	}
	return "permissive"
}

func TestVM(t *testing.T) {
	e := setup(t)
	var sum summary
	for _, tc := range registry {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Contains(tc.arches, e.arch) {
				t.Skipf("registered for %v only", tc.arches)
			}
			rt, done := sum.start(t)
			defer done()
			if err := missingGuestTests(tc.name, tc.guestTests, e.guestTests); err != nil {
				rt.Fatal(err)
			}
			runVMTest(rt, e, tc)
		})
	}
	if !t.Failed() {
		// The signed image's build (1.2 GiB) is kept for a failed run
		// only, like every test's artifacts.
		os.RemoveAll(signedBase(e.arch))
	}
	if err := sum.write(archArtifacts(e.arch), "["+e.arch+"]"); err != nil {
		t.Error(err)
	}
	t.Logf("%s", sum.String())
}

// TestRegistryNamesExistingGuestTests checks every entry against the guest
// package for each of its arches without booting anything, so a renamed
// guest test fails here even when no image is at hand
// (go test -tags qemu -run TestRegistry ./test/qemu/).
func TestRegistryNamesExistingGuestTests(t *testing.T) {
	have := map[string][]string{}
	for _, tc := range registry {
		for _, name := range tc.arches {
			a, err := arch.Lookup(name)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if have[name] == nil {
				if have[name], err = guestTests("guest", a.GoArch); err != nil {
					t.Fatal(err)
				}
			}
			if err := missingGuestTests(tc.name, tc.guestTests, have[name]); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

// checkSSHBanner proves from the host that the guest's forwarded port
// reaches sshd, which generated its host keys on this first boot.
func checkSSHBanner(t testing.TB, e *env, r *run) {
	addr := fmt.Sprintf("127.0.0.1:%d", r.forwards[22])
	var last error
	for i := 0; i < 10; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(20 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "SSH-2.0-OpenSSH") {
				t.Logf("host: %s answers %q", addr, strings.TrimSpace(line))
				return
			}
			last = fmt.Errorf("banner %q: %v", line, err)
		} else {
			last = err
		}
		time.Sleep(2 * time.Second)
	}
	t.Errorf("host: no SSH banner through forwarded port %s: %v", addr, last)
}

// corruptUSR flips one byte of /usr/bin/docker's data inside USR-A, in the
// VM's overlay only, and records the offset within the verity device.
func corruptUSR(t testing.TB, e *env, r *run) {
	usr := e.manifest.Layout.Get(layout.USRA)
	raw := *imagePath
	img := filepath.Join(r.dir, "usr.img")
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, e.manifest.USRBytes)
	if _, err := f.ReadAt(buf, usr.Start); err != nil {
		t.Fatal(err)
	}
	out.Write(buf)
	out.Close()
	defer os.Remove(img)
	dump, err := exec.Command("dump.erofs", "-e", "--path=/bin/docker", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dump.erofs: %v\n%s", err, dump)
	}
	// Extent lines: "  N:  lstart..  lend |  len :  pstart..  pend |  plen".
	re := regexp.MustCompile(`(?m)^\s*(\d+):.*\|.*:\s*(\d+)\.\.\s*\d+\s*\|`)
	m := re.FindAllStringSubmatch(string(dump), -1)
	if len(m) < 20 {
		t.Fatalf("dump.erofs: expected extents of /bin/docker, got:\n%s", dump)
	}
	phys, _ := strconv.ParseInt(m[len(m)/2][2], 10, 64)
	off := phys + 100
	orig := buf[off]
	cmd := exec.Command("qemu-io", "-f", "qcow2", "-c", fmt.Sprintf("write -P 0x%02x %d 1", orig^0xff, usr.Start+off), r.disk)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, b)
	}
	t.Logf("flipped byte at USR-A offset %d (0x%02x → 0x%02x) inside /usr/bin/docker's data", off, orig, orig^0xff)
	r.extra["offset"] = strconv.FormatInt(off, 10)
}
