#!/usr/bin/env bash
# Install the pinned Claude Code and Codex CLIs into <repo>/.agents-cli (project-local).
#
# Idempotent and fast when the pinned versions are already there: it reads the installed
# package.json versions and only calls npm when one differs or is missing.
# Binaries end up in <repo>/.agents-cli/node_modules/.bin/{claude,codex}.
#
# Usage: scripts/install-agent-clis.sh [--force]
# Env:   SM_AGENTS_CLI_DIR overrides the install prefix.
set -euo pipefail

CLAUDE_VERSION="2.1.330"
CODEX_VERSION="0.169.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${SM_AGENTS_CLI_DIR:-$ROOT/.agents-cli}"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

if ! command -v npm >/dev/null 2>&1; then
    echo "install-agent-clis: npm not found; install Node.js (>= 18) first" >&2
    exit 1
fi

installed_version() {  # $1 = package name
    local pj="$PREFIX/node_modules/$1/package.json"
    [[ -f "$pj" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version || "")' "$pj" 2>/dev/null || true
}

have_claude="$(installed_version @anthropic-ai/claude-code)"
have_codex="$(installed_version @openai/codex)"

if [[ $FORCE == 0 && "$have_claude" == "$CLAUDE_VERSION" && "$have_codex" == "$CODEX_VERSION" \
      && -x "$PREFIX/node_modules/.bin/claude" && -x "$PREFIX/node_modules/.bin/codex" ]]; then
    echo "install-agent-clis: claude $CLAUDE_VERSION and codex $CODEX_VERSION already in $PREFIX"
    exit 0
fi

mkdir -p "$PREFIX"
# A package.json of its own keeps npm from walking up into the repository's tree.
[[ -f "$PREFIX/package.json" ]] || echo '{"name": "sm-agent-clis", "private": true}' > "$PREFIX/package.json"

echo "install-agent-clis: installing @anthropic-ai/claude-code@$CLAUDE_VERSION @openai/codex@$CODEX_VERSION into $PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error --save-exact \
    "@anthropic-ai/claude-code@$CLAUDE_VERSION" "@openai/codex@$CODEX_VERSION"

"$PREFIX/node_modules/.bin/claude" --version
"$PREFIX/node_modules/.bin/codex" --version
