# poold: `make run` starts poold on configs/example.toml; `make test` runs the suite.
GO      ?= go
BIN     := bin
CONFIG  ?= configs/example.toml
# Statically linked, so the one binary runs anywhere.
export CGO_ENABLED ?= 0

.PHONY: all build run test race fuzz bench vet clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	$(BIN)/poold $(CONFIG)

# The whole suite, with the race detector (which needs cgo), then a short
# fuzz run of the control protocol's decoder and dispatcher.
test: build
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m ./...
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime 10s ./arbiter

vet:
	$(GO) vet ./...

fuzz:
	CGO_ENABLED=1 $(GO) test -run '^$$' -fuzz FuzzHandle -fuzztime 2m ./arbiter

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(BIN)/poold-bench -bin $(BIN) -out $(BIN)/bench.json -benchfmt $(BIN)/bench.txt

clean:
	rm -rf $(BIN)
