# e3sync — the front door. `make demo` runs the whole job against an embedded
# emulated Optimizely; `make test` installs what the tests need (cached) and
# runs them all.
SHELL := /bin/bash
GO ?= go
E3SYNC_CACHE ?= $(HOME)/.cache/e3sync
export E3SYNC_CACHE
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
DEMO_DIR ?= ./e3sync-demo

.PHONY: all build demo test test-tools lint bench clean release image

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/e3sync ./cmd/e3sync

demo:
	$(GO) run ./cmd/e3sync demo --dest $(DEMO_DIR)

test-tools:
	@scripts/test-tools.sh >/dev/null

test: test-tools lint
	$(GO) test -count=1 -timeout 30m ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# BENCH_WORKLOADS=small,medium,large,huge,mix (or all), BENCH_RUNS, BENCH_CASES:
# see bench/cmd/e3bench and BENCHMARKS.md.
bench: test-tools
	@bench/rclone.sh
	$(GO) run ./bench/cmd/e3bench
	$(GO) test -run '^$$' -bench Plan -benchtime 3x ./bench/

clean:
	rm -rf bin dist $(DEMO_DIR)

# SAM (template.yaml, BuildMethod: makefile): `sam build` runs `make build-<LogicalId>`
# with ARTIFACTS_DIR set; each target writes a Linux arm64 static `bootstrap` there.
# Run by hand, the binaries land in bin/<LogicalId>/.
.PHONY: build-FetchCredsFunction build-CopierFunction lint-template

build-FetchCredsFunction: ARTIFACTS_DIR ?= bin/FetchCredsFunction
build-FetchCredsFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' -o $(ARTIFACTS_DIR)/bootstrap ./functions/fetchcreds

build-CopierFunction: ARTIFACTS_DIR ?= bin/CopierFunction
build-CopierFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)' -o $(ARTIFACTS_DIR)/bootstrap ./functions/copier

lint-template:
	cfn-lint template.yaml

# The long fault matrix (faults/): SOAK_ROUNDS more rounds of every fault
# kind, with more data and other fault rates, after the short matrix; each
# kind is repeated until it has had at least 100 faults (the run fails if
# one has not). Prints the fault table and its totals per kind (faults
# injected, objects lost, corrupted, partial, false _SUCCESS, orphaned
# uploads). Then a 2 GiB copy with credentials expiring every 2 s, and every
# fuzz target for FUZZ_TIME each.
SOAK_ROUNDS ?= 3
FUZZ_TIME ?= 30s
.PHONY: soak
soak: test-tools
	set -o pipefail; E3SYNC_SOAK=$(SOAK_ROUNDS) $(GO) test -count=1 -timeout 150m -v ./faults/ | grep -E '^(\||Totals|--- FAIL|FAIL|ok|PASS)'
	E3SYNC_SOAK=$(SOAK_ROUNDS) $(GO) test -count=1 -timeout 30m -run 'TestSyncWithExpiringCredentials' ./cmd/e3sync/
	FUZZ_TIME=$(FUZZ_TIME) GO=$(GO) bash scripts/fuzz.sh

# Release artefacts in $(DIST): the CLI for every platform (static, version
# stamped), the CLI's container image per Linux architecture (built without a
# container engine, see internal/release), and SHA256SUMS over all of them.
# SOURCE_DATE_EPOCH (default: the commit's time) fixes the image timestamps,
# so the same commit gives the same image.
DIST ?= dist
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
IMAGE_ARCHS ?= amd64 arm64
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH

release:
	rm -rf $(DIST)
	mkdir -p $(DIST)
	set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" = windows ] && ext=.exe; \
		GOOS=$$os GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o $(DIST)/e3sync_$(VERSION)_$${os}_$${arch}$$ext ./cmd/e3sync; \
	done
	$(MAKE) --no-print-directory image DIST=$(DIST) VERSION=$(VERSION)
	cd $(DIST) && sha256sum e3sync_* e3sync-image-*.tar > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

# The CLI's container image: dist/e3sync-image-<arch>.tar (docker load,
# podman load, crane push). Static binary, user 65532, CA certificates, no shell.
image:
	mkdir -p $(DIST)
	set -e; for arch in $(IMAGE_ARCHS); do \
		bin=$(DIST)/e3sync_$(VERSION)_linux_$$arch; \
		[ -f $$bin ] || GOOS=linux GOARCH=$$arch CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$bin ./cmd/e3sync; \
		$(GO) run ./internal/release/cmd/ociimage -binary $$bin -arch $$arch -version $(VERSION) -out $(DIST)/e3sync-image-$$arch.tar; \
	done
