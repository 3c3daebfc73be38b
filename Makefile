# Bulwark: the front door. `make help` lists the targets.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
ARCH ?= x86_64
SPEC ?= images/container-host.yaml
NAME := $(basename $(notdir $(SPEC)))
OUT ?= out
CACHE ?= .cache
IMAGE := $(OUT)/$(NAME)-$(ARCH).raw
GO ?= go
# What a build does when the archive has moved past a locked package that the
# package cache (.cache/debs) does not have either: refresh relocks, prints what
# moved and goes on (everyday targets: they must work on a fresh machine any
# day); strict fails naming every such package (release builds).
LOCK ?= refresh
# osbuild links trixie's libseccomp statically (scripts/libseccomp.sh says why).
# The cache's layout is internal/osbuild/cachedir's; this one entry is spelled
# here because it must exist before any Go program of the repo builds.
LIBSECCOMP := $(abspath $(CACHE))/host/libseccomp
export PKG_CONFIG_PATH := $(LIBSECCOMP)/pkgconfig

.PHONY: help deps build image lock lock-check run example-node test test-unit test-root test-qemu bench lint fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages the build host needs (idempotent)
	@./scripts/deps.sh
	@./scripts/libseccomp.sh $(LIBSECCOMP)

$(LIBSECCOMP)/pkgconfig/libseccomp.pc:
	@./scripts/libseccomp.sh $(LIBSECCOMP)

build: $(LIBSECCOMP)/pkgconfig/libseccomp.pc ## build bin/osbuild and bin/nodecfg
	$(GO) build -o bin/ ./cmd/...

lock: build ## re-resolve SPEC's packages into its .lock file
	./bin/osbuild lock $(SPEC)

lock-check: build ## list locked packages the archive has newer versions of (security updates marked); exit 4 if any
	./bin/osbuild lock --check $(SPEC)

# SIGN_KEY names a gpg secret key (in GNUPGHOME) that signs SHA256SUMS into
# SHA256SUMS.gpg; empty builds unsigned outputs (README: "Signed outputs").
# SECUREBOOT_KEYS is a key directory (osbuild secureboot keys) whose db key
# signs systemd-boot and the UKI; empty builds an unsigned boot chain.
SIGN_KEY ?=
SECUREBOOT_KEYS ?=
image: deps build ## build $(OUT)/<name>-$(ARCH).raw from SPEC (ARCH=x86_64|aarch64; SIGN_KEY=gpg key signs SHA256SUMS; SECUREBOOT_KEYS=dir signs the boot chain)
	./bin/osbuild build $(SPEC) --arch $(ARCH) --out $(OUT) --cache $(CACHE) --lock $(LOCK) $(if $(SIGN_KEY),--sign-key $(SIGN_KEY)) $(if $(SECUREBOOT_KEYS),--secureboot-keys $(SECUREBOOT_KEYS))

$(IMAGE):
	$(MAKE) image ARCH=$(ARCH)

NODE ?= nodes/example.yaml
IGNITION ?= $(OUT)/$(basename $(notdir $(NODE))).ign

example-node: build ## mint nodes/example-pki/ (CA, server, clients alice and bob) and render $(IGNITION)
	@test -f nodes/example-pki/example.pem || ./bin/nodecfg certs --out nodes/example-pki --host example --dns localhost --ip 127.0.0.1 --ip 10.0.2.15 --client alice --client bob
	@mkdir -p $(OUT)
	./bin/nodecfg render -o $(IGNITION) $(NODE)

run: build $(IMAGE) example-node ## build the default image if needed and boot it in QEMU with the example node config
	./bin/osbuild boot $(IMAGE) --arch $(ARCH) --ignition $(IGNITION)

test-unit: $(LIBSECCOMP)/pkgconfig/libseccomp.pc ## unit tests: no root, QEMU or network
	$(GO) vet ./...
	$(GO) test ./...

test-root: deps ## tests that need root and host tools (veritysetup, mkfs, loop devices), and Debian's archive (lock drift)
	BULWARK_REQUIRE_HOST_TOOLS=1 $(GO) test -tags root -count=1 ./...
	$(GO) test -tags archive -count=1 -run 'Drift' ./internal/osbuild/

test-image: deps build ## check $(OUT)/<name>-$(ARCH).raw with sgdisk, veritysetup, systemd-dissect, osbuild inspect; rebuild and compare bytes
	@test -f $(IMAGE) || $(MAKE) image ARCH=$(ARCH)
	$(GO) test -tags image -count=1 -timeout 60m -v ./test/image/ -image $(abspath $(IMAGE)) -arch $(ARCH) -spec $(abspath $(SPEC)) -cache $(abspath $(CACHE)) $(if $(KEYRING),-keyring $(abspath $(KEYRING)))

# Each VM test has its own budget (qemu.Scale); the suite's go test timeout only
# backs them up: on a host 3x slower under TCG (2026-11-29) x86_64's suite reached 60m
# with its longest test, the update chain, just begun.
test-qemu: deps ## boot $(OUT)/<name>-$(ARCH).raw in QEMU and run the guest checks
	@test -f $(IMAGE) || $(MAKE) image ARCH=$(ARCH)
	@rm -f $(OUT)/qemu-tests/$(ARCH)/summary.txt $(OUT)/qemu-tests/$(ARCH)/failures.txt
	$(GO) test -tags qemu -count=1 -timeout 100m ./test/qemu/ -image $(abspath $(IMAGE)) -arch $(ARCH) -spec $(abspath $(SPEC)) -cache $(abspath $(CACHE)) -v \
		|| { rc=$$?; cat $(OUT)/qemu-tests/$(ARCH)/summary.txt 2>/dev/null; exit $$rc; }

PHASES := $(OUT)/test-phases.tsv
# The two architectures' QEMU suites run side by side (scripts/both-arches.sh
# says why); QEMU_SERIAL=1 runs one after the other.
QEMU_SERIAL ?=
# A failed QEMU phase ends make test's output with each failed VM test's
# first error line (CI keeps a run's last lines).
QEMU_NOTES := $(OUT)/qemu-tests/x86_64/failures.txt $(OUT)/qemu-tests/aarch64/failures.txt
test: ## everything: unit, root-only, image checks and both architectures' QEMU tests side by side (QEMU_SERIAL=1: one after the other); ends with a table of each phase's time
	@mkdir -p $(OUT) && : > $(PHASES) && rm -f $(QEMU_NOTES)
	@./scripts/phase.sh $(PHASES) deps $(MAKE) --no-print-directory deps
	@./scripts/phase.sh $(PHASES) build $(MAKE) --no-print-directory build
	@./scripts/phase.sh $(PHASES) test-unit $(MAKE) --no-print-directory test-unit
	@./scripts/phase.sh $(PHASES) test-root $(MAKE) --no-print-directory test-root
	@./bin/osbuild lock --check $(SPEC) || echo "WARNING: $(SPEC)'s lock is behind the archive (above); make test goes on, run 'make lock' to move"
	@./scripts/phase.sh $(PHASES) "image x86_64" $(MAKE) --no-print-directory image ARCH=x86_64
	@./scripts/phase.sh $(PHASES) "test-image x86_64" $(MAKE) --no-print-directory test-image ARCH=x86_64
	@./scripts/phase.sh $(PHASES) "image aarch64" $(MAKE) --no-print-directory image ARCH=aarch64
	@./scripts/phase.sh $(PHASES) "test-image aarch64" $(MAKE) --no-print-directory test-image ARCH=aarch64
ifeq ($(QEMU_SERIAL),)
	@PHASE_NOTES="$(QEMU_NOTES)" ./scripts/phase.sh $(PHASES) "test-qemu both arches" ./scripts/both-arches.sh $(MAKE) --no-print-directory test-qemu
else
	@PHASE_NOTES="$(QEMU_NOTES)" ./scripts/phase.sh $(PHASES) "test-qemu x86_64" $(MAKE) --no-print-directory test-qemu ARCH=x86_64
	@PHASE_NOTES="$(QEMU_NOTES)" ./scripts/phase.sh $(PHASES) "test-qemu aarch64" $(MAKE) --no-print-directory test-qemu ARCH=aarch64
endif
	@./scripts/phase.sh $(PHASES)

BENCH_FLAGS ?=
bench: deps build example-node ## builds, /usr writers, boots and first boot against the alternatives (~35 min); table + $(OUT)/bench.json (BENCH_FLAGS="-only usrfs,firstboot -runs 3")
	$(GO) run ./test/bench -spec $(SPEC) -cache $(CACHE) -images $(OUT) -json $(OUT)/bench.json -markdown $(OUT)/bench.md $(BENCH_FLAGS)

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)
	$(GO) vet ./...

FUZZTIME ?= 30s
fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./internal/strictyaml/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/authz/ && $(GO) test -run '^$$' -fuzz '^FuzzBody$$' -fuzztime $(FUZZTIME) ./internal/authz/
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime $(FUZZTIME) ./internal/daemonconfig/
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime $(FUZZTIME) ./internal/nodespec/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/audit/
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/seccomp/ && $(GO) test -run '^$$' -fuzz '^FuzzLXC$$' -fuzztime $(FUZZTIME) ./internal/seccomp/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./internal/selinux/
	$(GO) test -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME) ./internal/dpkgstatus/
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime $(FUZZTIME) ./internal/osbuild/labels/
	$(GO) test -run '^$$' -fuzz FuzzApply -fuzztime $(FUZZTIME) ./internal/nodecfg/apply/
	$(GO) test -run '^$$' -fuzz '^FuzzCopyright$$' -fuzztime $(FUZZTIME) ./internal/osbuild/sbom/
	$(GO) test -run '^$$' -fuzz FuzzDeb822 -fuzztime $(FUZZTIME) ./internal/deb822/

clean: ## remove outputs (keeps the download and rootfs cache)
	rm -rf $(OUT) bin
