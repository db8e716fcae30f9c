# spike — build and test entry points. `make test` is what CI runs.

GO      ?= go
PKGS    := ./...
BIN     := bin

.PHONY: all build release demo test spire unit race bench bench-go bench-spire bench-rebuild bench-cold-start lint fuzz soak clean

all: build

## build: every binary under cmd/ into bin/ (and compile everything else)
build:
	@mkdir -p $(BIN)
	$(GO) build ./...
	@if [ -d cmd ]; then $(GO) build -o $(BIN)/ ./cmd/...; fi

## release: the four programs as static (CGO_ENABLED=0), trimmed,
## version-stamped binaries in RELEASE_DIR: what deploy/docker/Dockerfile
## runs, so the image holds exactly what this builds (test/e2e/deploy
## checks both). VERSION defaults to `git describe`, "dev" without git.
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
RELEASE_DIR  ?= $(BIN)/release
RELEASE_CMDS := ./cmd/spike-nexus ./cmd/spike-keeper ./cmd/spike-bootstrap ./cmd/spike
release:
	@mkdir -p $(RELEASE_DIR)
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '-s -w -X github.com/spikeledger/spike/internal/buildinfo.stamped=$(VERSION)' -o $(RELEASE_DIR)/ $(RELEASE_CMDS)

## demo: the whole system on this machine (spike dev), the demo policy,
## the demo workload and a few pilot commands; then everything stops.
demo: build
	@bash test/demo.sh

## test: everything — lint, the full test suite (crash and memory tests
## included), the race detector over the fast subset, and every fuzz
## target for FUZZTIME_SHORT executions (its seed corpus under
## testdata/fuzz runs with the tests already; this mutates from it). A
## count, not a duration: Go 1.26's fuzzer can fail a duration budget
## spuriously at its deadline (see test/fuzz.sh).
FUZZTIME_SHORT ?= 3000x
test: lint spire
	$(GO) test -count=1 -timeout 45m $(PKGS)
	$(GO) test -count=1 -race -short -timeout 20m $(PKGS)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

## spire: build the SPIRE server and agent the end-to-end tests run, once
## per machine, before any test binary needs them (Linux only). Cold it
## prints one line and takes about 7 minutes on 2 cores; cached, nothing.
spire:
	@if [ "$$(uname -s)" = Linux ]; then $(GO) run ./test/e2e/spire/prebuild; fi

## unit: the fast subset (skips crash, memory and end-to-end suites)
unit:
	$(GO) test -count=1 -short $(PKGS)

race:
	$(GO) test -count=1 -race -short $(PKGS)

## bench: the load matrix (test/load; docs/performance.md) against a
## development cluster in a child process, and any BENCH_TARGET beside it
## (space-separated -target values, e.g. a SPIKE Nexus: name=…,url=…,
## pid=…,svid-dir=…), measured alternately; one table. BENCH_REF names
## the target the ×ref columns compare with; BENCH_FLAGS adds flags
## (-mix, -c, -clients, -paths, -versions, -policies, -format md …);
## BENCH_DEV= (empty) leaves the development cluster out.
BENCH_TIME   ?= 5s
BENCH_DEV    ?= dev
BENCH_TARGET ?=
BENCH_REF    ?=
BENCH_FLAGS  ?=
bench:
	$(GO) run ./test/load -d $(BENCH_TIME) $(foreach t,$(BENCH_DEV) $(BENCH_TARGET),-target $(t)) \
	  $(if $(BENCH_REF),-ref $(BENCH_REF)) $(BENCH_FLAGS)

## bench-spire: the same matrix against spike-nexus as its own process
## under a real SPIRE with default logging (test/e2e/bench) and, beside
## it, SPIKE_BENCH_TARGET or the Nexus SPIKE_BENCH_SCRIPT starts.
## BENCH_FLAGS go to the load tool.
bench-spire: spire
	$(GO) test -count=1 -v -timeout 3h -run '^TestSideBySide$$' ./test/e2e/bench -spire-bench \
	  -load-flags '-d $(BENCH_TIME) $(BENCH_FLAGS)'

## bench-cluster: the load tool's gets and puts at 1 to 64 callers against
## a single spike-nexus and a 3-replica cluster (at its leader and at a
## follower) under a real SPIRE (test/e2e/bench TestClusterBench); server
## CPU of a cluster row sums its three replicas. BENCH_FLAGS go to the
## load tool.
bench-cluster: spire
	$(GO) test -count=1 -v -timeout 1h -run '^TestClusterBench$$' ./test/e2e/bench -spire-bench \
	  -load-flags '-d $(BENCH_TIME) $(BENCH_FLAGS)'

## bench-rebuild: projection rebuild speed over a one-million-event log,
## read-heavy (80 % reads, 12 % writes) and with 30 % writes (events/s).
bench-rebuild:
	$(GO) test -run '^$$' -bench '^BenchmarkRebuild$$' -benchtime 1x -count 3 ./projections
	SPIKE_BENCH_WRITES=30 $(GO) test -run '^$$' -bench '^BenchmarkRebuild$$' -benchtime 1x -count 3 ./projections

## bench-cold-start: spike-nexus under SPIRE with 100,000 secrets and a
## one-million-event log: time from process start to the first get with
## the projection intact and deleted, and resident memory.
COLD_FLAGS ?=
bench-cold-start: spire
	$(GO) test -count=1 -v -timeout 1h -run '^TestColdStart$$' ./test/e2e/bench -spire-bench $(COLD_FLAGS)

## soak: ten minutes (SOAK_DURATION) of 32 clients' mixed load against
## spike-nexus under a real SPIRE (test/e2e/reliability), sampling its
## memory, goroutines and open files every second into SOAK_CSV; fails on
## any failed request or a growth trend. `make test` runs two minutes.
SOAK_DURATION ?= 10m
SOAK_CSV      ?= $(BIN)/soak-samples.csv
soak: spire
	@mkdir -p $(dir $(SOAK_CSV))
	SPIKE_SOAK_DURATION=$(SOAK_DURATION) SPIKE_SOAK_CSV=$(abspath $(SOAK_CSV)) \
	  $(GO) test -count=1 -v -timeout 1h -run '^TestSoak$$' ./test/e2e/reliability

## bench-go: the Go benchmarks, no tests
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s $(PKGS)

## lint: gofmt must be clean and go vet must pass
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run every fuzz target for FUZZTIME each (default 30s; an
## execution count such as 2000x works too): test/fuzz.sh.
FUZZTIME ?= 30s
fuzz:
	@GO=$(GO) FUZZTIME=$(FUZZTIME) bash test/fuzz.sh

clean:
	rm -rf $(BIN)
