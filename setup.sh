#!/usr/bin/env bash
# Set up sm on a Debian/Ubuntu machine. Idempotent: run it again any time.
#   ./setup.sh          system packages, .venv with sm, `sm` on PATH
#   ./setup.sh --dev    also the test and bench dependencies, Chromium for the browser
#                       tests, and the agent CLIs for e2e
#   ./setup.sh --link-only [--bin-dir DIR]   only (re)link `sm` into DIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEV=0
LINK_ONLY=0
BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) DEV=1 ;;
    --link-only) LINK_ONLY=1 ;;
    --bin-dir) BIN="${2:?--bin-dir needs a directory}"; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
say() { printf '\033[1m==>\033[0m %s\n' "$*"; }

# `sm` on PATH: a link to this checkout's console script. Another checkout's link is
# replaced, and said so; a file that is not a link is left alone.
link_sm() {
  local target="$ROOT/.venv/bin/sm" link="$BIN/sm" old
  if [ -L "$link" ]; then
    old="$(readlink "$link")"
    if [ "$old" = "$target" ]; then
      say "$link already links to $target"
    else
      ln -sfn "$target" "$link"
      say "replaced $link: it linked to $old, now to $target"
    fi
  elif [ -e "$link" ]; then
    echo "setup.sh: left $link alone: it is not a link (remove it, or run $target)" >&2
  else
    ln -s "$target" "$link"
    say "linked $link to $target"
  fi
}

if [ -z "$BIN" ]; then
  if [ -w /usr/local/bin ]; then BIN=/usr/local/bin; else BIN="$HOME/.local/bin"; fi
fi
if [ "$LINK_ONLY" = 1 ]; then
  mkdir -p "$BIN"
  link_sm
  exit 0
fi

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

# 3. `sm` on PATH
mkdir -p "$BIN"
link_sm
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
