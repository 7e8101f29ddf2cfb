#!/usr/bin/env bash
# Installs a pinned grpcurl into .cache/bin/ at the repository root (git-ignored) unless that exact
# version is already there, then prints the binary's path on stdout. Progress and errors go to
# stderr, so callers can use: grpcurl="$(test/compat/install-grpcurl.sh)".
#
# grpcurl is built from source with `go install`: the Go module proxy is reachable from developer
# machines and CI, release binaries are not.
set -euo pipefail

GRPCURL_MODULE="github.com/fullstorydev/grpcurl"
# Pinned so that a new grpcurl release (its JSON rendering, its reflection handling) cannot change
# what the compat test sees without a reviewed commit.
GRPCURL_VERSION="v1.9.4"
# The go directive of grpcurl's go.mod at GRPCURL_VERSION. An older local Go would try to download
# a newer toolchain; we fail with a message instead.
GO_MIN_VERSION="1.25.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
bin_dir="$repo_root/.cache/bin"
bin="$bin_dir/grpcurl"

die() {
  echo "install-grpcurl: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 ||
  die "go is not on PATH: grpcurl $GRPCURL_VERSION is built with 'go install' and needs Go >= $GO_MIN_VERSION"

go_version="$(go env GOVERSION)"
go_version="${go_version#go}"
if [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$go_version" | sort -V | head -n1)" != "$GO_MIN_VERSION" ]]; then
  die "grpcurl $GRPCURL_VERSION needs Go >= $GO_MIN_VERSION, found Go $go_version"
fi

# `go version -m` reads the module version that `go install` embedded in the binary, so a binary
# left by an older pin is replaced rather than trusted.
installed_version() {
  go version -m "$bin" 2>/dev/null | awk -v mod="$GRPCURL_MODULE" '$1 == "mod" && $2 == mod { print $3 }'
}

if [[ -x "$bin" && "$(installed_version)" == "$GRPCURL_VERSION" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin_dir"
echo "install-grpcurl: building $GRPCURL_MODULE/cmd/grpcurl@$GRPCURL_VERSION into $bin_dir" >&2
# CGO_ENABLED=0: grpcurl needs no C, and a pure-Go build does not depend on a C toolchain.
# GOTOOLCHAIN=local: never fetch a Go toolchain behind our back (see GO_MIN_VERSION).
if ! GOBIN="$bin_dir" CGO_ENABLED=0 GOTOOLCHAIN=local \
  go install "$GRPCURL_MODULE/cmd/grpcurl@$GRPCURL_VERSION" >&2; then
  die "'go install $GRPCURL_MODULE/cmd/grpcurl@$GRPCURL_VERSION' failed (GOPROXY=$(go env GOPROXY)); see the Go output above"
fi

[[ "$(installed_version)" == "$GRPCURL_VERSION" ]] ||
  die "installed $bin, but it reports version '$(installed_version)', expected $GRPCURL_VERSION"
echo "$bin"
