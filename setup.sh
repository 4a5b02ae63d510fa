#!/usr/bin/env bash
# Set up sm on a Debian/Ubuntu machine. Idempotent: run it again any time.
#   ./setup.sh          system packages, .venv with sm, `sm` on PATH
#   ./setup.sh --dev    also the test and bench dependencies, Chromium for the browser
#                       tests, and the agent CLIs for e2e
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1m==>\033[0m %s\n' "$*"; }

# 1. system packages (only what is missing)
missing=()
for bin in tmux sqlite3 git; do command -v "$bin" >/dev/null 2>&1 || missing+=("$bin"); done
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)  # the dashboard's pinned assets
if [ "$DEV" = 1 ] && [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. the project virtualenv, built on the real interpreter (never a pyenv shim)
PY="$(python3 -c 'import sys; print(sys.executable)')"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  say "creating $ROOT/.venv with $PY"
  "$PY" -m venv "$ROOT/.venv"
fi
VPY="$ROOT/.venv/bin/python"
"$VPY" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$DEV" = 1 ]; then
  say "installing sm with test and bench dependencies"
  "$VPY" -m pip install -q -e "$ROOT[dev]"
else
  say "installing sm"
  "$VPY" -m pip install -q -e "$ROOT"
fi

# byte-compile now: agents start sm many times a turn, and PYTHONDONTWRITEBYTECODE
# environments would otherwise recompile it on every call
"$VPY" -m compileall -q "$ROOT/sm" "$ROOT/hooks" >/dev/null

# the web dashboard's browser assets (xterm.js, Swagger UI): pinned npm packages served
# by the daemon itself, never from a CDN
VENDOR="$ROOT/sm/web/vendor"
if [ ! -f "$VENDOR/node_modules/.package-lock.json" ] || [ "$VENDOR/package-lock.json" -nt "$VENDOR/node_modules/.package-lock.json" ]; then
  say "installing the dashboard's browser assets into $VENDOR/node_modules"
  (cd "$VENDOR" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null) \
    || echo "warning: web assets not installed; the dashboard's terminal needs them" >&2
fi

# 3. `sm` on PATH: a link to the venv's console script
if [ -w /usr/local/bin ]; then BIN=/usr/local/bin; else BIN="$HOME/.local/bin"; mkdir -p "$BIN"; fi
ln -sf "$ROOT/.venv/bin/sm" "$BIN/sm"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) echo "note: add $BIN to your PATH (or run $ROOT/.venv/bin/sm)" ;;
esac

# 4. the real agent CLIs for the end-to-end tests (project-local, pinned)
if [ "$DEV" = 1 ] && [ -x "$ROOT/scripts/install-agent-clis.sh" ]; then
  say "installing the pinned Claude Code and Codex CLIs into $ROOT/.agents-cli"
  "$ROOT/scripts/install-agent-clis.sh" || echo "warning: agent CLIs not installed; e2e tests will skip" >&2
fi
say "done: $("$ROOT/.venv/bin/sm" --version 2>/dev/null || echo sm) → $BIN/sm"
