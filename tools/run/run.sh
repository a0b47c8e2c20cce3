#!/usr/bin/env bash
# Starts the whole system on this machine: embedder, one index instance and
# the gateway, each logging to $RUN_DIR/logs. Ctrl+C (or SIGTERM) stops all
# three and waits for them to shut down cleanly. Called by `make run`, which
# sets BIN, RUN_DIR, PORT, MODEL_DIR, DATA and WRITE_TOKEN.
set -euo pipefail

: "${BIN:?}" "${RUN_DIR:?}" "${PORT:=8080}"
MODEL_DIR=${MODEL_DIR:-}
DATA=${DATA:-}
WRITE_TOKEN=${WRITE_TOKEN:-}
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/index"

pids=()
stop() {
	trap - INT TERM EXIT
	[ ${#pids[@]} -gt 0 ] || exit 0
	echo "stopping (${#pids[@]} processes)..."
	kill -TERM "${pids[@]}" 2>/dev/null || true
	wait "${pids[@]}" 2>/dev/null || true
	echo "stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

start() {
	local name=$1
	shift
	"$BIN/$name" "$@" >"$RUN_DIR/logs/$name.log" 2>&1 &
	pids+=($!)
	echo "started $name (pid $!, log $RUN_DIR/logs/$name.log)"
}

if [ -z "$MODEL_DIR" ]; then
	echo "make run needs MODEL_DIR=<sentence-transformers ONNX model directory> until the default model ships (README.md, Status)" >&2
	exit 2
fi
embedder_args=(-listen 127.0.0.1:50051 -metrics-listen 127.0.0.1:9101 -onnxruntime-lib "$ONNXRUNTIME_LIB" -model-dir "$MODEL_DIR")
[ -n "$DATA" ] && echo "note: DATA=$DATA is not indexed yet: the index build is not part of this build (README.md, Status)"

start embedder "${embedder_args[@]}"
# FAISS starts an OpenMP team per concurrent search; the index parallelises
# across shards itself, so one thread per search is its best setting.
OMP_NUM_THREADS=1 start index -listen 127.0.0.1:50061 -metrics-listen 127.0.0.1:9102 -data-dir "$RUN_DIR/index"
gateway_args=(-http-listen "127.0.0.1:$PORT" -grpc-listen 127.0.0.1:9090 -embedder-addr 127.0.0.1:50051 -index-addrs 127.0.0.1:50061)
[ -n "$WRITE_TOKEN" ] && export GATEWAY_WRITE_TOKEN="$WRITE_TOKEN" # env, so the token is not in ps output
start gateway "${gateway_args[@]}"

for _ in $(seq 1 600); do
	if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
		echo
		echo "arXiv search is up: http://127.0.0.1:$PORT/  (REST: /v1/..., API docs: /docs, gRPC: 127.0.0.1:9090)"
		echo "Ctrl+C stops everything."
		break
	fi
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || { echo "a service exited during start-up; logs:"; tail -n 20 "$RUN_DIR"/logs/*.log; exit 1; }
	done
	sleep 0.2
done
# Exit when any service dies, so a crash is not hidden behind a live shell.
wait -n "${pids[@]}" || true
echo "a service exited; see $RUN_DIR/logs"
