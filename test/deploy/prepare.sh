#!/usr/bin/env bash
# Builds what test/deploy.test.ts needs, into .cache/ at the repository root (git-ignored):
#   .cache/bin/kubeconform   github.com/yannh/kubeconform, pinned, `go install`
#   .cache/bin/kustomize     sigs.k8s.io/kustomize/kustomize/v5, pinned, `go install`
#   .cache/bin/promtool      Prometheus' promtool at the version of the compose stack's image,
#                            built from this folder's Go module (go.mod pins it)
#   .cache/bin/deploycheck   our checks in this folder (compose loading, PromQL parsing, schemas)
#   .cache/kubernetes-schemas/<k8s version>/   kubeconform's strict JSON schemas, generated offline
#                            from the OpenAPI document of the Kubernetes release and from KEDA's
#                            ScaledObject CRD, both fetched as Go modules
# Idempotent: each tool is rebuilt only when its pin (or this folder's sources) changed. On success
# writes the paths as KEY=VALUE lines to .cache/deploy-tools.env and prints them on stdout; progress
# and errors go to stderr.
set -euo pipefail

KUBECONFORM_MODULE="github.com/yannh/kubeconform"
KUBECONFORM_VERSION="v0.7.0"
KUSTOMIZE_MODULE="sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION="v5.7.1"
# The schemas' Kubernetes release: native sidecars (restartPolicy: Always on an init container) and
# gRPC probes are GA in it. api/openapi-spec/swagger.json in this module is the release's own API.
KUBERNETES_MODULE="k8s.io/kubernetes"
KUBERNETES_VERSION="v1.33.6"
KUBERNETES_SUM="h1:NOIZqkx8M4XfdyRKllzLSBiMgSilPzSvCembfzOMk6A="
# KEDA's release whose config/crd/bases/keda.sh_scaledobjects.yaml the ScaledObject is checked against.
KEDA_MODULE="github.com/kedacore/keda/v2"
KEDA_VERSION="v2.17.2"
KEDA_SUM="h1:xlrcK5TKABJF9PebK79sgL07s/csGjL3H4m72OkZXxk="
# Needed by kubeconform's and this module's go directives; never download a toolchain.
GO_MIN_VERSION="1.24.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
cache="$repo_root/.cache"
bin_dir="$cache/bin"
schemas="$cache/kubernetes-schemas/$KUBERNETES_VERSION"
export GOTOOLCHAIN=local CGO_ENABLED=0

die() {
  echo "prepare-deploy: $*" >&2
  exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH: the deployment checks are built with Go >= $GO_MIN_VERSION"
go_version="$(go env GOVERSION)"
go_version="${go_version#go}"
if [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$go_version" | sort -V | head -n1)" != "$GO_MIN_VERSION" ]]; then
  die "the deployment checks need Go >= $GO_MIN_VERSION, found Go $go_version"
fi
mkdir -p "$bin_dir"

# The version `go install` embedded in a binary, so a binary left by an older pin is replaced.
module_version() {
  go version -m "$1" 2>/dev/null | awk -v mod="$2" '$1 == "mod" && $2 == mod { print $3 }'
}

install_pinned() {
  local name="$1" module="$2" version="$3" package="$4"
  if [[ -x "$bin_dir/$name" && "$(module_version "$bin_dir/$name" "$module")" == "$version" ]]; then
    return
  fi
  echo "prepare-deploy: building $package@$version into $bin_dir" >&2
  GOBIN="$bin_dir" go install "$package@$version" >&2 || die "'go install $package@$version' failed: see the Go output above"
}

install_pinned kubeconform "$KUBECONFORM_MODULE" "$KUBECONFORM_VERSION" "$KUBECONFORM_MODULE/cmd/kubeconform"
install_pinned kustomize "$KUSTOMIZE_MODULE" "$KUSTOMIZE_VERSION" "$KUSTOMIZE_MODULE"

# promtool and deploycheck: rebuilt when go.mod, go.sum or a source here is newer than the last
# successful build (the stamp is written only after both built).
stamp="$bin_dir/.deploycheck-built"
if [[ -f "$stamp" && -x "$bin_dir/promtool" && -x "$bin_dir/deploycheck" &&
  -z "$(find "$here" -maxdepth 1 \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -newer "$stamp" -print -quit)" ]]; then
  :
else
  rm -f "$stamp"
  echo "prepare-deploy: building promtool and deploycheck from $here/go.mod" >&2
  (cd "$here" && go build -o "$bin_dir/promtool" github.com/prometheus/prometheus/cmd/promtool >&2) ||
    die "building promtool failed: see the Go output above"
  (cd "$here" && go build -o "$bin_dir/deploycheck" . >&2) || die "building deploycheck failed: see the Go output above"
  touch "$stamp"
fi

# A module's folder in the module cache, after checking its hash against the pin.
module_dir() {
  local module="$1" version="$2" sum="$3" info
  # Outside any module, so this folder's go.mod is neither read nor changed.
  info="$(cd "$cache" && go mod download -json "$module@$version")" ||
    die "'go mod download $module@$version' failed: $info"
  [[ "$info" == *"\"Sum\": \"$sum\""* ]] || die "$module@$version: expected hash $sum, got: $info"
  printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

schema_stamp="$schemas/.generated"
if [[ -f "$schema_stamp" && "$schema_stamp" -nt "$bin_dir/deploycheck" ]]; then
  :
else
  echo "prepare-deploy: generating Kubernetes $KUBERNETES_VERSION and KEDA $KEDA_VERSION schemas into $schemas" >&2
  kubernetes_dir="$(module_dir "$KUBERNETES_MODULE" "$KUBERNETES_VERSION" "$KUBERNETES_SUM")"
  keda_dir="$(module_dir "$KEDA_MODULE" "$KEDA_VERSION" "$KEDA_SUM")"
  rm -rf "$schemas"
  "$bin_dir/deploycheck" k8s-schemas "$schemas" "$kubernetes_dir/api/openapi-spec/swagger.json" \
    "$keda_dir/config/crd/bases/keda.sh_scaledobjects.yaml" >/dev/null ||
    die "generating the schemas failed: see the errors above"
  touch "$schema_stamp"
fi

# Read by test/deploy.test.ts, so the tests need not know the pins.
tools_env="$cache/deploy-tools.env"
{
  echo "SLUICE_KUBECONFORM=$bin_dir/kubeconform"
  echo "SLUICE_KUSTOMIZE=$bin_dir/kustomize"
  echo "SLUICE_PROMTOOL=$bin_dir/promtool"
  echo "SLUICE_DEPLOYCHECK=$bin_dir/deploycheck"
  echo "SLUICE_KUBERNETES_SCHEMAS=$schemas"
} >"$tools_env.tmp"
mv "$tools_env.tmp" "$tools_env"
cat "$tools_env"
