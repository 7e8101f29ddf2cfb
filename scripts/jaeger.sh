#!/usr/bin/env bash
# Jaeger v2 (all-in-one: OTLP in, in-memory storage, query API and UI) without Docker.
#
#   scripts/jaeger.sh [install]   build the pinned Jaeger into .cache/bin/ (git-ignored) unless that
#                                 exact version is already there; print the binary's path on stdout
#   scripts/jaeger.sh run         install, then run it with scripts/jaeger.yaml in the foreground
#
# Ports (run): JAEGER_OTLP_GRPC_PORT (4317), JAEGER_OTLP_HTTP_PORT (4318), JAEGER_QUERY_HTTP_PORT
# (16686), JAEGER_QUERY_GRPC_PORT (16685), on JAEGER_LISTEN_HOST (127.0.0.1).
#
# Jaeger is built from its Go module with the local Go toolchain; modules come from, and are cached
# in, the usual Go module cache (GOPROXY as the environment sets it). A cold build downloads a few
# hundred modules and compiles for minutes; later builds of the same pin reuse the Go caches.
# Progress and errors go to stderr, so callers can use: jaeger="$(scripts/jaeger.sh)".
set -euo pipefail

JAEGER_MODULE="github.com/jaegertracing/jaeger"
# The Go module's tag for Jaeger v2.13.0 (each release is tagged v1.x for the module and v2.y for
# the binary). Pinned so a new release (its config schema, its query API) cannot change what the
# trace end-to-end test sees without a reviewed commit.
JAEGER_MODULE_VERSION="v1.76.0"
JAEGER_VERSION="v2.13.0"
# The go directive of Jaeger's go.mod at that tag. An older local Go would try to download a newer
# toolchain; we fail with a message instead.
GO_MIN_VERSION="1.24.6"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"
bin_dir="$repo_root/.cache/bin"
bin="$bin_dir/jaeger"
# Written after a complete build: the pinned version the binary was built from.
stamp="$bin_dir/jaeger.version"
config="$here/jaeger.yaml"

die() {
  echo "jaeger: $*" >&2
  exit 1
}

install() {
  if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$JAEGER_MODULE_VERSION" ]]; then
    echo "$bin"
    return
  fi
  command -v go >/dev/null 2>&1 ||
    die "go is not on PATH: Jaeger $JAEGER_VERSION is built from source and needs Go >= $GO_MIN_VERSION"
  local go_version
  go_version="$(go env GOVERSION)"
  go_version="${go_version#go}"
  if [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$go_version" | sort -V | head -n1)" != "$GO_MIN_VERSION" ]]; then
    die "Jaeger $JAEGER_VERSION needs Go >= $GO_MIN_VERSION, found Go $go_version"
  fi

  # `go install module@version` refuses modules whose go.mod has replace directives (Jaeger's
  # has one), so the module is downloaded and built as the main module instead, which honours
  # them and its go.sum. The module cache is read-only; the build writes only to GOCACHE and -o.
  echo "jaeger: fetching $JAEGER_MODULE@$JAEGER_MODULE_VERSION (GOPROXY=$(go env GOPROXY))" >&2
  local dir
  dir="$(GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$JAEGER_MODULE@$JAEGER_MODULE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" ||
    die "'go mod download $JAEGER_MODULE@$JAEGER_MODULE_VERSION' failed; see the Go output above"
  [[ -n "$dir" && -f "$dir/go.mod" ]] || die "the Go module cache has no source for $JAEGER_MODULE@$JAEGER_MODULE_VERSION"

  mkdir -p "$bin_dir"
  rm -f "$stamp"
  echo "jaeger: building $JAEGER_MODULE/cmd/jaeger ($JAEGER_VERSION) into $bin_dir; a cold build takes minutes" >&2
  local started=$SECONDS
  # CGO_ENABLED=0: a static binary, no C toolchain needed. GOTOOLCHAIN=local: never fetch a Go
  # toolchain behind our back (see GO_MIN_VERSION). -buildvcs=false: the module cache has no VCS.
  (cd "$dir" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -trimpath \
    -ldflags "-s -w -X $JAEGER_MODULE/internal/version.latestVersion=$JAEGER_VERSION" \
    -o "$bin.tmp" ./cmd/jaeger) >&2 ||
    die "building $JAEGER_MODULE/cmd/jaeger@$JAEGER_MODULE_VERSION failed; see the Go output above"
  mv -f "$bin.tmp" "$bin"
  echo "$JAEGER_MODULE_VERSION" >"$stamp"
  echo "jaeger: built in $((SECONDS - started)) s" >&2
  echo "$bin"
}

case "${1:-install}" in
  install)
    install
    ;;
  run)
    jaeger="$(install)"
    export JAEGER_LISTEN_HOST="${JAEGER_LISTEN_HOST:-127.0.0.1}"
    echo "jaeger: OTLP gRPC ${JAEGER_LISTEN_HOST}:${JAEGER_OTLP_GRPC_PORT:-4317}, OTLP HTTP ${JAEGER_LISTEN_HOST}:${JAEGER_OTLP_HTTP_PORT:-4318}, UI and query API http://${JAEGER_LISTEN_HOST}:${JAEGER_QUERY_HTTP_PORT:-16686}" >&2
    exec "$jaeger" --config "file:$config"
    ;;
  *)
    die "usage: scripts/jaeger.sh [install|run]"
    ;;
esac
