#!/usr/bin/env bash
# Installs the pinned releases of the coding-agent CLIs the real-agent tests drive:
# Claude Code and codex from npm, aider from PyPI (in its own virtualenv, so its pinned
# dependencies never meet wandb's or mlflow's). Idempotent: a tool already at its pinned
# version is left alone.
#
# Prefix: $REVIS_AGENT_TOOLS, default ~/.cache/revis/agent-tools. The tests look there.
set -euo pipefail

CLAUDE_VERSION=2.1.197
CODEX_VERSION=0.171.0
AIDER_VERSION=0.86.2

prefix="${REVIS_AGENT_TOOLS:-$HOME/.cache/revis/agent-tools}"
mkdir -p "$prefix"

npm_dir="$prefix/npm"
installed_version() { # package → version in $npm_dir, or nothing
  node -e 'try{console.log(require(process.argv[1]+"/node_modules/"+process.argv[2]+"/package.json").version)}catch(e){}' \
    "$npm_dir" "$1" 2>/dev/null || true
}
if [[ "$(installed_version @anthropic-ai/claude-code)" != "$CLAUDE_VERSION" ||
      "$(installed_version @openai/codex)" != "$CODEX_VERSION" ]]; then
  echo "+ npm install @anthropic-ai/claude-code@$CLAUDE_VERSION @openai/codex@$CODEX_VERSION (into $npm_dir)"
  mkdir -p "$npm_dir"
  npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_VERSION" "@openai/codex@$CODEX_VERSION"
fi

aider_dir="$prefix/aider"
if ! "$aider_dir/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('aider-chat') != '$AIDER_VERSION')" 2>/dev/null; then
  echo "+ pip install aider-chat==$AIDER_VERSION (into $aider_dir)"
  python3 -m venv "$aider_dir"
  "$aider_dir/bin/python" -m pip install --quiet --disable-pip-version-check "aider-chat==$AIDER_VERSION"
fi

"$npm_dir/node_modules/.bin/claude" --version
"$npm_dir/node_modules/.bin/codex" --version
"$aider_dir/bin/aider" --version
