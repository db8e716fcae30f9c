# spike — build and test entry points. `make test` is what CI runs.

GO      ?= go
PKGS    := ./...
BIN     := bin

.PHONY: all build demo test spire unit race bench lint fuzz clean

all: build

## build: every binary under cmd/ into bin/ (and compile everything else)
build:
	@mkdir -p $(BIN)
	$(GO) build ./...
	@if [ -d cmd ]; then $(GO) build -o $(BIN)/ ./cmd/...; fi

## demo: the whole system on this machine (spike dev), the demo policy,
## the demo workload and a few pilot commands; then everything stops.
demo: build
	@bash test/demo.sh

## test: everything — lint, the full test suite (crash and memory tests
## included), and the race detector over the fast subset.
test: lint spire
	$(GO) test -count=1 -timeout 45m $(PKGS)
	$(GO) test -count=1 -race -short -timeout 20m $(PKGS)

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

## bench: benchmarks, no tests
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s $(PKGS)

## lint: gofmt must be clean and go vet must pass
lint:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## fuzz: run every fuzz target briefly (FUZZTIME, default 30s each)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
