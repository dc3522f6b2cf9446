# poold: `make run` starts poold on configs/example.toml; `make test` runs the suite.
GO      ?= go
BIN     := bin
CONFIG  ?= configs/example.toml
# Statically linked, so the one binary runs anywhere.
export CGO_ENABLED ?= 0
# poold --version and the upgrade reply; "dev" outside a git checkout.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: all build run test race fuzz bench soak vet clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/poold $(CONFIG)

# The whole suite, with the race detector (which needs cgo), then a short
# fuzz run of the control protocol's decoder and dispatcher, counted in
# runs: a -fuzztime in seconds fails now and then at its end under load
# (Go 1.26's fuzz coordinator, go.dev/issue/75804).
test: build
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m ./...
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime 30000x ./arbiter

vet:
	$(GO) vet ./...

fuzz:
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime 600000x ./arbiter

# TENK=1000,10000 adds poold-bench's tenk section (N tiny workers: spawn,
# kills, status, stats, /metrics scrapes; about 10 minutes at 10,000).
TENK ?=
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(BIN)/poold-bench -bin $(BIN) -out $(BIN)/bench.json -benchfmt $(BIN)/bench.txt $(if $(TENK),-tenk $(TENK))

# A few minutes of SIGKILL churn, incr/decr past a pids limit, silent
# control peers and a stuck log pipe against bin/poold, printing its fds,
# threads and RSS before and after (cmd/poold-soak). Not part of `make
# test`. The pids-limit part needs root and cgroup v1's pids controller.
SOAK ?= 3m
soak: build
	$(BIN)/poold-soak -bin $(BIN) -duration $(SOAK)

clean:
	rm -rf $(BIN)
