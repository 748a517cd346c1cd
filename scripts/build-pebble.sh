#!/usr/bin/env bash
# Builds Pebble (the ACME test CA) from the Go module github.com/letsencrypt/pebble/v2 for the
# ARI tests (test/e2e/certs-ari.test.ts via test/harness/pebble.ts `binary: 'ari'`). Debian's
# /usr/bin/pebble (2.4) has no renewalInfo endpoint; 2.10 implements RFC 9773 (ARI).
# The binary lands in .cache/pebble/<version>/pebble (git-ignored); see scripts/go-tool.sh.
#
# Usage: scripts/build-pebble.sh [vX.Y.Z]   (default: $PEBBLE_VERSION, else the version below)
set -euo pipefail

# Keep in step with PEBBLE_ARI_VERSION in test/harness/pebble.ts.
DEFAULT_VERSION=v2.10.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${1:-${PEBBLE_VERSION:-$DEFAULT_VERSION}}
[[ $VERSION =~ ^v2\.[0-9]+\.[0-9]+$ ]] || { echo "build-pebble: FAILED: version '$VERSION' is not of the form v2.Y.Z" >&2; exit 1; }
exec bash "$ROOT/scripts/go-tool.sh" pebble github.com/letsencrypt/pebble/v2/cmd/pebble "$VERSION"
