#!/usr/bin/env bash
# Builds a Go command-line tool used by the tests (a real peer) with `go install`, into
# .cache/<name>/<version>/<name> (git-ignored); skipped when that binary exists. One build at a
# time: a second caller waits, then finds the binary.
#
# When scripts/go-tools/<name>/ holds a go.mod and go.sum, the tool is built inside that module
# instead, so its dependencies are the pinned ones (a tool without a go.mod of its own, such as
# h2spec, would otherwise get whatever versions are newest on the day of the build).
#
# Usage: scripts/go-tool.sh <name> <package path of the command> <version>
#   e.g. scripts/go-tool.sh pebble github.com/letsencrypt/pebble/v2/cmd/pebble v2.10.1
set -euo pipefail

NAME=${1:?name}
PKG=${2:?package path}
VERSION=${3:?version}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$ROOT/.cache/$NAME/$VERSION"
BIN="$OUT/$NAME"

fail() { echo "go-tool $NAME: FAILED: $*" >&2; exit 1; }
trap 'echo "go-tool $NAME: FAILED at line $LINENO: $BASH_COMMAND (see the output above)" >&2' ERR

if [[ -x $BIN ]]; then echo "go-tool: $NAME $VERSION already built in $OUT"; exit 0; fi

GO=$(command -v go || true)
[[ -n $GO ]] || { [[ -x /usr/local/go/bin/go ]] && GO=/usr/local/go/bin/go; } || true
[[ -n $GO ]] || fail "go is not on PATH (nor /usr/local/go/bin/go); install Go >= 1.26 (scripts/go-tools/*/go.mod ask for it)"
# Use the Go on this machine; never fetch another toolchain behind our back.
export GOTOOLCHAIN=local
mkdir -p "$ROOT/.cache/$NAME"
exec 9>"$ROOT/.cache/$NAME/.build.lock"
flock 9
if [[ -x $BIN ]]; then echo "go-tool: $NAME $VERSION built by another process"; exit 0; fi

START=$(date +%s)
# go install writes to GOBIN; use a private one so a half-written binary never appears at $BIN.
TMPBIN="$ROOT/.cache/$NAME/gobin-$VERSION"
rm -rf "$TMPBIN" && mkdir -p "$TMPBIN"
PINNED="$ROOT/scripts/go-tools/$NAME"
if [[ -f $PINNED/go.mod ]]; then
  grep -q "$(dirname "$(dirname "$PKG")")\b.* $VERSION\b" "$PINNED/go.mod" \
    || fail "$PINNED/go.mod does not require $VERSION of the module of $PKG: keep the two in step"
  echo "go-tool: go build $PKG in $PINNED (dependencies pinned by its go.mod and go.sum)"
  CGO_ENABLED=0 "$GO" build -C "$PINNED" -mod=readonly -trimpath -o "$TMPBIN/$NAME" "$PKG" \
    || fail "go build of $PKG in $PINNED failed (GOPROXY=$("$GO" env GOPROXY)); see the output above"
else
  echo "go-tool: go install $PKG@$VERSION"
  GOBIN="$TMPBIN" CGO_ENABLED=0 "$GO" install -trimpath "$PKG@$VERSION" \
    || fail "go install of $PKG@$VERSION failed (GOPROXY=$("$GO" env GOPROXY)); see the output above"
fi
[[ -x $TMPBIN/$NAME ]] || fail "go install produced no $TMPBIN/$NAME"
mkdir -p "$OUT"
mv -f "$TMPBIN/$NAME" "$BIN.tmp" && mv -f "$BIN.tmp" "$BIN"
rm -rf "$TMPBIN"
echo "go-tool: built $NAME $VERSION into $BIN in $(( $(date +%s) - START )) s"
