# arXiv semantic paper search. `make run` and `make test` are the two
# commands a user needs; everything else is reachable from them.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
BIN := $(ROOT)/bin
MODULES := proto platform services/embedder services/index gateway pipeline deploy
# Modules with code of their own to test (tools only pins plugin versions).
TEST_MODULES := platform services/embedder services/index gateway pipeline deploy

BUF_VERSION := v1.75.0
BUF := go run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

ORT_VERSION := 1.24.1
export ONNXRUNTIME_LIB ?= $(ROOT)/third_party/onnxruntime/$(ORT_VERSION)/libonnxruntime.so.1
# FAISS parallelises with OpenMP; one thread per core is its best setting,
# and tests share the machine with the race detector.
export OMP_NUM_THREADS ?= 2

# Settings honoured by `make run` (see docs/configuration.md).
PORT ?= 8080
MODEL_DIR ?=
DATA ?=
WRITE_TOKEN ?=
RUN_DIR ?= $(ROOT)/var

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/arxivsearch/arxivsearch/platform/buildinfo.Version=$(VERSION)

# -race costs 5-10x on the cgo-heavy packages; CI has the time for it.
RACE ?= -race
GOTEST_FLAGS ?=

.PHONY: help setup gen gen-check build lint test run clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install native dependencies (FAISS, OpenBLAS, ONNX Runtime); idempotent
	@bash tools/setup/native.sh

$(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2: tools/go.mod tools/go.sum
	@mkdir -p $(BIN)
	cd tools && GOWORK=off go build -o $(BIN)/ \
		google.golang.org/protobuf/cmd/protoc-gen-go \
		google.golang.org/grpc/cmd/protoc-gen-go-grpc \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2

PLUGINS := $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc $(BIN)/protoc-gen-grpc-gateway $(BIN)/protoc-gen-openapiv2

gen: $(PLUGINS) ## regenerate code from proto/ (committed)
	$(BUF) generate

# gen-check regenerates into a scratch directory and compares it with the
# committed files, so a stale or hand-edited generated file fails lint.
gen-check: $(PLUGINS)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp"; \
	stale=0; \
	while IFS= read -r f; do \
		rel=$${f#"$$tmp"/}; \
		cmp -s "$$f" "$$rel" || { echo "stale generated file: $$rel (run make gen)"; stale=1; }; \
	done < <(find "$$tmp" -type f); \
	while IFS= read -r f; do \
		[ -f "$$tmp/$$f" ] || { echo "generated file without a source: $$f (run make gen)"; stale=1; }; \
	done < <(find proto -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' \)); \
	exit $$stale

build: setup ## build the service binaries into bin/
	@mkdir -p $(BIN)
	cd services/embedder && go build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...
	cd services/index && go build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...
	cd gateway && go build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...
	cd pipeline && go build -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

lint: gen-check ## buf lint, gofmt, go vet on every module, generated code up to date
	$(BUF) lint
	@unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	@for m in $(MODULES); do \
		[ -n "$$(cd $$m && go list ./... 2>/dev/null)" ] || continue; \
		echo "go vet $$m"; (cd $$m && go vet ./...); \
	done

test: export SETUP_BROWSER_TEST := 1
test: export SETUP_PROMETHEUS_TEST := 1
test: setup ## run every module's tests (with -race) and lint
	@for m in $(TEST_MODULES); do \
		if [ -z "$$(cd $$m && go list ./... 2>/dev/null)" ]; then echo "== $$m has no packages yet"; continue; fi; \
		echo "== go test $$m"; \
		(cd $$m && go test $(RACE) $(GOTEST_FLAGS) ./...); \
	done
	@$(MAKE) --no-print-directory lint

run: build ## start embedder, index and gateway on this machine; Ctrl+C stops them
	@RUN_DIR="$(RUN_DIR)" PORT="$(PORT)" MODEL_DIR="$(MODEL_DIR)" DATA="$(DATA)" \
		WRITE_TOKEN="$(WRITE_TOKEN)" BIN="$(BIN)" bash tools/run/run.sh

clean: ## remove build outputs and run state (keeps third_party downloads)
	rm -rf $(BIN) $(RUN_DIR)
