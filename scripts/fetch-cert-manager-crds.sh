#!/usr/bin/env bash
# Fetches cert-manager's own CRDs (not ours in deploy/crds/) for test/kube/cert-manager-crds.test.ts,
# which checks that gangplank works with them installed instead. They are not copied into the
# repository: the Go module proxy serves the cert-manager module, whose zip holds deploy/crds/ as
# plain controller-gen output. The six files land in .cache/cert-manager-crds/<version>/
# (git-ignored); the fetch is skipped when they are all there.
#
# Usage: scripts/fetch-cert-manager-crds.sh [vX.Y.Z]
#   (default: test/harness/kube/CERT_MANAGER_VERSION, which the test reads too; or $CERT_MANAGER_VERSION)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${1:-${CERT_MANAGER_VERSION:-$(tr -d '[:space:]' < "$ROOT/test/harness/kube/CERT_MANAGER_VERSION")}}
MODULE=github.com/cert-manager/cert-manager
OUT="$ROOT/.cache/cert-manager-crds/$VERSION"
FILES=(
  cert-manager.io_certificates.yaml
  cert-manager.io_issuers.yaml
  cert-manager.io_clusterissuers.yaml
  cert-manager.io_certificaterequests.yaml
  acme.cert-manager.io_orders.yaml
  acme.cert-manager.io_challenges.yaml
)

fail() { echo "fetch-cert-manager-crds: FAILED: $*" >&2; exit 1; }
trap 'echo "fetch-cert-manager-crds: FAILED at line $LINENO: $BASH_COMMAND (see the output above)" >&2' ERR

[[ $VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "version '$VERSION' is not of the form vX.Y.Z"

have_all() { for f in "${FILES[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done; }
if have_all; then echo "fetch-cert-manager-crds: $VERSION already in $OUT"; exit 0; fi

if [[ -d /usr/local/go/bin ]]; then export PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || fail "go is not on PATH; install Go (it fetches the module through \$GOPROXY)"
# Use the Go on this machine; never fetch another toolchain behind our back.
export GOTOOLCHAIN=local

START=$(date +%s%N)
# Outside any module, so that no go.mod of ours (there is none) or of a parent directory interferes.
WORK=$(mktemp -d)
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
echo "fetch-cert-manager-crds: downloading $MODULE@$VERSION through \$GOPROXY=$(cd "$WORK" && go env GOPROXY)"
# go mod download -json reports failures in an "Error" field on stdout and exits non-zero.
DL=$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "$MODULE@$VERSION" 2>&1) || true
DIR=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<< "$DL")
[[ -n $DIR && -d $DIR ]] || fail "could not download $MODULE@$VERSION: $DL"
[[ -d $DIR/deploy/crds ]] || fail "$MODULE@$VERSION has no deploy/crds/ in its module zip ($DIR); the layout changed"

mkdir -p "$OUT"
for f in "${FILES[@]}"; do
  src="$DIR/deploy/crds/$f"
  [[ -s $src ]] || fail "$MODULE@$VERSION has no deploy/crds/$f; the layout changed (have: $(ls "$DIR/deploy/crds" | tr '\n' ' '))"
  # The module cache is read-only; copy through a temp name so a half-written file never counts as present.
  cp "$src" "$OUT/$f.tmp" && chmod 0644 "$OUT/$f.tmp" && mv -f "$OUT/$f.tmp" "$OUT/$f"
done
have_all || fail "files missing in $OUT after copying"
MS=$(( ($(date +%s%N) - START) / 1000000 ))
echo "fetch-cert-manager-crds: copied ${#FILES[@]} CRDs of $VERSION into $OUT in ${MS} ms"
