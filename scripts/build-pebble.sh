#!/usr/bin/env bash
# Builds Pebble (the ACME test CA) from the Go module github.com/letsencrypt/pebble/v2 for the
# ARI tests (test/e2e/certs-ari.test.ts via test/harness/pebble.ts `binary: 'ari'`). Debian's
# /usr/bin/pebble (2.4) has no renewalInfo endpoint; 2.10 implements RFC 9773 (ARI).
# The binary lands in .cache/pebble/<version>/pebble (git-ignored); the build is skipped when it exists.
#
# Usage: scripts/build-pebble.sh [vX.Y.Z]   (default: $PEBBLE_VERSION, else the version below)
set -euo pipefail

# Keep in step with PEBBLE_ARI_VERSION in test/harness/pebble.ts.
DEFAULT_VERSION=v2.10.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${1:-${PEBBLE_VERSION:-$DEFAULT_VERSION}}
OUT="$ROOT/.cache/pebble/$VERSION"
BIN="$OUT/pebble"

fail() { echo "build-pebble: FAILED: $*" >&2; exit 1; }
trap 'echo "build-pebble: FAILED at line $LINENO: $BASH_COMMAND (see the output above)" >&2' ERR

[[ $VERSION =~ ^v2\.[0-9]+\.[0-9]+$ ]] || fail "version '$VERSION' is not of the form v2.Y.Z"
if [[ -x $BIN ]]; then echo "build-pebble: $VERSION already built in $OUT"; exit 0; fi

GO=$(command -v go || true)
[[ -n $GO ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; } || true
[[ -n $GO ]] || fail "go is not on PATH (nor /usr/local/go/bin/go); install Go >= 1.24"
# Use the Go on this machine; never fetch another toolchain behind our back.
export GOTOOLCHAIN=local
mkdir -p "$ROOT/.cache/pebble"
# One build at a time (parallel test runs or two shells); the second waits, then finds the binary.
exec 9>"$ROOT/.cache/pebble/.build.lock"
flock 9
if [[ -x $BIN ]]; then echo "build-pebble: $VERSION built by another process"; exit 0; fi

START=$(date +%s)
# go install writes to GOBIN; use a private one so a half-written binary never appears at $BIN.
TMPBIN="$ROOT/.cache/pebble/gobin-$VERSION"
rm -rf "$TMPBIN" && mkdir -p "$TMPBIN"
echo "build-pebble: go install github.com/letsencrypt/pebble/v2/cmd/pebble@$VERSION"
GOBIN="$TMPBIN" CGO_ENABLED=0 "$GO" install -trimpath \
  "github.com/letsencrypt/pebble/v2/cmd/pebble@$VERSION" \
  || fail "go install of pebble@$VERSION failed (GOPROXY=$("$GO" env GOPROXY)); see the output above"
[[ -x $TMPBIN/pebble ]] || fail "go install produced no $TMPBIN/pebble"
mkdir -p "$OUT"
mv -f "$TMPBIN/pebble" "$BIN.tmp" && mv -f "$BIN.tmp" "$BIN"
rm -rf "$TMPBIN"
echo "build-pebble: built $VERSION into $BIN in $(( $(date +%s) - START )) s"
