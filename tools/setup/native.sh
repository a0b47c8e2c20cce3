#!/usr/bin/env bash
# Installs the native libraries the services link against or load at run time.
# Idempotent: a second run checks what is there and does nothing. Everything it
# fetches is verified by SHA-256 before use.
#
#   FAISS (cgo, static):  Debian packages libfaiss-dev and libopenblas0-openmp.
#   ONNX Runtime (dlopen): libonnxruntime.so.1 from the npm package
#                          onnxruntime-node, placed under third_party/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
ort_version=1.24.1
ort_tgz_sha256=57181cf6e6e711b155c5b942d591fd63ded0b5de5c4922d51fd994e7f6ac2772
ort_lib_sha256=53ef1ac028dd1b05554b8da28d9159eb3876f99868193d2aaa6e67f0243c23d4
ort_dir="$root/third_party/onnxruntime/$ort_version"
ort_lib="$ort_dir/libonnxruntime.so.1"

log() { printf 'setup: %s\n' "$*" >&2; }

# as_root runs a command as root: directly when we are root, through sudo
# when it works without a password, and otherwise prints what to run.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo "$@"
	else
		log "need root to run: sudo $*"
		log "run that command yourself, then run make again"
		return 1
	fi
}

apt_packages=()
[ -f /usr/lib/x86_64-linux-gnu/libfaiss.a ] || [ -f /usr/lib/libfaiss.a ] || apt_packages+=(libfaiss-dev)
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || apt_packages+=(libopenblas0-openmp)
command -v g++ >/dev/null 2>&1 || apt_packages+=(g++)
command -v curl >/dev/null 2>&1 || apt_packages+=(curl)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
# The web UI's browser test drives Debian's Chromium; only test runs ask for
# it, so container builds (which run this script) stay small.
if [ "${SETUP_BROWSER_TEST:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
	apt_packages+=(chromium)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
	log "installing ${apt_packages[*]} with apt-get"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

if [ "${SETUP_BROWSER_TEST:-0}" = 1 ]; then
	e2e="$root/gateway/internal/webui/e2e"
	[ -f "$e2e/node_modules/playwright-core/package.json" ] || (cd "$e2e" && npm ci --no-audit --no-fund --silent)
fi

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# The monitoring test (deploy/monitoring) runs Debian's Prometheus against
# the services. Only its two binaries are taken from the package, into
# third_party/: installing it would start a system Prometheus on port 9090,
# the port `make run` gives the gateway's gRPC API. Test runs only, like
# Chromium, so the images (whose build runs this script) stay small.
prom_dir="$root/third_party/prometheus/bin"
if [ "${SETUP_PROMETHEUS_TEST:-0}" = 1 ] && ! command -v prometheus >/dev/null 2>&1 && [ ! -x "$prom_dir/prometheus" ]; then
	(
		ptmp=$(mktemp -d)
		trap 'rm -rf "$ptmp"' EXIT
		cd "$ptmp"
		# apt-get download checks the package against the signed archive index.
		if ! apt-get download -qq prometheus 2>/dev/null; then
			as_root apt-get update -qq
			apt-get download -qq prometheus
		fi
		dpkg-deb -x prometheus_*.deb x
		mkdir -p "$prom_dir"
		install -m 0755 x/usr/bin/prometheus x/usr/bin/promtool "$prom_dir/"
		log "Prometheus $(basename prometheus_*.deb .deb | cut -d_ -f2) at $prom_dir"
	)
fi

if sha_ok "$ort_lib" "$ort_lib_sha256"; then
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "fetching onnxruntime-node@$ort_version from the npm registry"
(cd "$tmp" && npm pack --silent --ignore-scripts "onnxruntime-node@$ort_version" >/dev/null)
tgz="$tmp/onnxruntime-node-$ort_version.tgz"
sha_ok "$tgz" "$ort_tgz_sha256" || { log "checksum mismatch for $(basename "$tgz"): refusing to use it"; exit 1; }
tar -xzf "$tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
sha_ok "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort_lib_sha256" ||
	{ log "checksum mismatch for libonnxruntime.so.1: refusing to use it"; exit 1; }
mkdir -p "$ort_dir"
install -m 0644 "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort_lib.tmp"
mv "$ort_lib.tmp" "$ort_lib"
log "ONNX Runtime $ort_version at $ort_lib"
