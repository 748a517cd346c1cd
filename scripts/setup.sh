#!/usr/bin/env bash
# Installs what gangplank's tests and benchmarks need, when it is missing: Debian packages for the
# real test peers, moto for AWS, the npm packages, and the kube-apiserver build. Idempotent and
# quick when everything is present; `npm test` runs it first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SUDO=""
# Go comes with the machine (/usr/local/go); the kube-apiserver build needs it on PATH.
if [[ -d /usr/local/go/bin ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

# command → Debian package that provides it
declare -A DEB=(
  [named]=bind9 [dig]=bind9-dnsutils [nsupdate]=bind9-dnsutils
  [pebble]=pebble [etcd]=etcd-server
  [nginx]=nginx-light [haproxy]=haproxy [wrk]=wrk [h2load]=nghttp2-client [dnsperf]=dnsperf
  [curl]=curl [openssl]=openssl [kubectl]=kubectl [flock]=util-linux [taskset]=util-linux
  [unshare]=util-linux [setpriv]=util-linux [ip]=iproute2 [python3]=python3
)
missing=()
for cmd in "${!DEB[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [[ ! -x /usr/sbin/$cmd ]]; then missing+=("${DEB[$cmd]}"); fi
done
if ((${#missing[@]})); then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "setup: installing Debian packages: $pkgs"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
# The Debian services must not run on their default ports behind the tests' backs.
for svc in named bind9 nginx haproxy etcd; do
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
pkill -x nginx 2>/dev/null || true
pkill -x haproxy 2>/dev/null || true

if ! command -v moto_server >/dev/null 2>&1; then
  echo "setup: installing moto (AWS emulator)"
  python3 -m pip install -q 'moto[server]'
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund
fi

bash "$ROOT/scripts/build-kube.sh"
bash "$ROOT/scripts/build-pebble.sh"
# h2spec: the HTTP/2 conformance suite run against the websecure entrypoint (test/proxy/h2spec.test.ts),
# built with the dependencies pinned in scripts/go-tools/h2spec (go.mod, go.sum).
# Keep in step with H2SPEC_VERSION there.
bash "$ROOT/scripts/go-tool.sh" h2spec github.com/summerwind/h2spec/cmd/h2spec v2.2.1+incompatible
bash "$ROOT/scripts/fetch-cert-manager-crds.sh"
echo "setup: ready"
