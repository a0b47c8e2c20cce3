#!/usr/bin/env bash
# Starts the whole system on this machine: embedder (serving MODEL_DIR, by
# default the model trained by the pipeline and shipped in the repository),
# one index instance and the gateway, each logging to $RUN_DIR/logs; then
# indexes DATA (by default the sample shipped in the repository) through the
# embedder. Papers already indexed are skipped, so a second run starts in
# seconds. Ctrl+C (or SIGTERM) stops all three and waits for them to shut
# down cleanly. Called by `make run`, which sets BIN, RUN_DIR, PORT,
# MODEL_DIR, DATA and WRITE_TOKEN.
set -euo pipefail

: "${BIN:?}" "${RUN_DIR:?}" "${PORT:=8080}"
root=$(cd "$(dirname "$0")/../.." && pwd)
MODEL_DIR=${MODEL_DIR:-$root/pipeline/models/default}
DATA=${DATA:-$root/pipeline/sample/arxiv-sample.jsonl.gz}
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

[ -d "$MODEL_DIR" ] || { echo "MODEL_DIR=$MODEL_DIR is not a directory" >&2; exit 2; }
[ -f "$DATA" ] || { echo "DATA=$DATA is not a file" >&2; exit 2; }
embedder_args=(-listen 127.0.0.1:50051 -metrics-listen 127.0.0.1:9101 -onnxruntime-lib "$ONNXRUNTIME_LIB" -model-dir "$MODEL_DIR")

start embedder "${embedder_args[@]}"
# FAISS starts an OpenMP team per concurrent search; the index parallelises
# across shards itself, so one thread per search is its best setting.
OMP_NUM_THREADS=1 start index -listen 127.0.0.1:50061 -metrics-listen 127.0.0.1:9102 -data-dir "$RUN_DIR/index"
gateway_args=(-http-listen "127.0.0.1:$PORT" -grpc-listen 127.0.0.1:9090 -embedder-addr 127.0.0.1:50051 -index-addrs 127.0.0.1:50061)
[ -n "$WRITE_TOKEN" ] && export GATEWAY_WRITE_TOKEN="$WRITE_TOKEN" # env, so the token is not in ps output
start gateway "${gateway_args[@]}"

ready=0
for _ in $(seq 1 600); do
	if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
		ready=1
		break
	fi
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null || { echo "a service exited during start-up; logs:"; tail -n 20 "$RUN_DIR"/logs/*.log; exit 1; }
	done
	sleep 0.2
done
[ "$ready" = 1 ] || { echo "services not ready after 120s; logs in $RUN_DIR/logs"; exit 1; }

echo "indexing $DATA (papers already indexed are skipped)"
"$BIN/arxivsearch" build-index -input "$DATA" -embedder 127.0.0.1:50051 -index 127.0.0.1:50061 \
	-manifest "$RUN_DIR/index-manifest.json" -log-level warn

echo
echo "arXiv search is up: http://127.0.0.1:$PORT/  (REST: /v1/..., API docs: /docs, gRPC: 127.0.0.1:9090)"
echo "Ctrl+C stops everything."
# Exit when any service dies, so a crash is not hidden behind a live shell.
wait -n "${pids[@]}" || true
echo "a service exited; see $RUN_DIR/logs"
