#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from the Go module k8s.io/kubernetes for
# the test harness (test/harness/kube.ts). Binaries land in .cache/kube/<version>/ (git-ignored);
# the build is skipped when both exist.
#
# k8s.io/kubernetes replaces its k8s.io/* staging modules with local paths, which
# `go install pkg@version` refuses. So we make a wrapper module that requires k8s.io/kubernetes
# and replaces each staging module with its published v0.Y.Z release. The staging list is read
# from the go.mod that the module proxy serves for that version, never hard-coded.
#
# Usage: scripts/build-kube.sh [vX.Y.Z]   (default: test/harness/kube/VERSION, or $KUBE_VERSION)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=${1:-${KUBE_VERSION:-$(tr -d '[:space:]' < "$ROOT/test/harness/kube/VERSION")}}
OUT="$ROOT/.cache/kube/$VERSION"
BINS=(kube-apiserver kube-controller-manager)

fail() { echo "build-kube: FAILED: $*" >&2; exit 1; }
trap 'echo "build-kube: FAILED at line $LINENO: $BASH_COMMAND (see the output above)" >&2' ERR

[[ $VERSION =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || fail "version '$VERSION' is not of the form v1.Y.Z"
STAGING_VERSION="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

have_all() { for b in "${BINS[@]}"; do [[ -x "$OUT/$b" ]] || return 1; done; }
if have_all; then echo "build-kube: $VERSION already built in $OUT"; exit 0; fi

command -v go >/dev/null || fail "go is not on PATH; install Go >= 1.25"
# Use the Go on this machine; never fetch another toolchain behind our back.
export GOTOOLCHAIN=local
mkdir -p "$ROOT/.cache/kube"
# One build at a time (parallel CI steps or two shells); the second waits, then finds the binaries.
exec 9>"$ROOT/.cache/kube/.build.lock"
flock 9
if have_all; then echo "build-kube: $VERSION built by another process"; exit 0; fi

START=$(date +%s)
WRAP="$ROOT/.cache/kube/wrapper-$VERSION"
rm -rf "$WRAP" && mkdir -p "$WRAP"
cd "$WRAP"

echo "build-kube: fetching k8s.io/kubernetes@$VERSION go.mod"
# go mod download -json reports failures in an "Error" field on stdout and exits non-zero.
DL=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$VERSION" 2>&1) || true
GOMOD=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p' <<< "$DL")
if [[ ! -f $GOMOD ]]; then
  cd "$ROOT" && rm -rf "$WRAP"
  fail "could not download k8s.io/kubernetes@$VERSION from \$GOPROXY=$(go env GOPROXY): $DL"
fi

GO_DIRECTIVE=$(awk '$1=="go"{print $2; exit}' "$GOMOD")
GODEBUG_DIRECTIVE=$(awk '$1=="godebug"{print; exit}' "$GOMOD")
# Replace lines inside "replace ( ... )" or single-line "replace a => b".
REPLACES=$(awk '
  /^replace[[:space:]]*\($/ {inblock=1; next}
  inblock && /^\)/ {inblock=0; next}
  inblock && /=>/ {print; next}
  /^replace[[:space:]]+[^(]/ {sub(/^replace[[:space:]]+/, ""); print}
' "$GOMOD")
[[ -n $REPLACES ]] || fail "no replace directives found in $GOMOD; the layout of k8s.io/kubernetes changed"

{
  echo "module gangplank.local/kubebuild"
  echo
  echo "go $GO_DIRECTIVE"
  [[ -n $GODEBUG_DIRECTIVE ]] && echo "$GODEBUG_DIRECTIVE"
  echo
  echo "require k8s.io/kubernetes $VERSION"
  echo
  echo "replace ("
  while read -r mod arrow target rest; do
    [[ $arrow == "=>" ]] || fail "unexpected replace line in $GOMOD: $mod $arrow $target $rest"
    case $target in
      ./*|../*)
        # A staging module: use its published release instead of the local path.
        [[ $mod == k8s.io/* ]] || fail "local replace of non-k8s.io module $mod in $GOMOD"
        echo "	$mod => $mod $STAGING_VERSION" ;;
      *)
        echo "	$mod => $target $rest" ;;
    esac
  done <<< "$REPLACES"
  echo ")"
} > go.mod
NSTAGING=$(grep -c "=> k8s.io/.* $STAGING_VERSION" go.mod || true)
echo "build-kube: wrapper module replaces $NSTAGING staging modules with $STAGING_VERSION"

cat > tools.go <<GO
//go:build tools

// Package tools pins the commands we build so that go mod tidy records their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO

echo "build-kube: resolving dependencies (go mod tidy)"
go mod tidy

MINOR=${VERSION#v1.}; MINOR=${MINOR%%.*}
VPKG=k8s.io/component-base/version
LDFLAGS="-s -w -X $VPKG.gitVersion=$VERSION -X $VPKG.gitMajor=1 -X $VPKG.gitMinor=$MINOR -X $VPKG.gitTreeState=clean -X $VPKG.buildDate=1970-01-01T00:00:00Z"
TMPOUT="$WRAP/bin"
mkdir -p "$TMPOUT"
echo "build-kube: compiling ${BINS[*]} (slow on 2 cores: expect 10-30 minutes cold)"
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$LDFLAGS" -o "$TMPOUT/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager

mkdir -p "$OUT"
for b in "${BINS[@]}"; do
  [[ -x $TMPOUT/$b ]] || fail "go build produced no $b"
  mv -f "$TMPOUT/$b" "$OUT/$b.tmp" && mv -f "$OUT/$b.tmp" "$OUT/$b"
done
"$OUT/kube-apiserver" --version
echo "build-kube: built $VERSION into $OUT in $(( $(date +%s) - START )) s"
