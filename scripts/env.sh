# Sourced by the scripts: puts the project's Node 24 first on PATH when it is installed.
_ag_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$_ag_root/.tools/node/bin/node" ]; then export PATH="$_ag_root/.tools/node/bin:$PATH"; fi
export PATH="$_ag_root/bin:$PATH"
unset _ag_root
