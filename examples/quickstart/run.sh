#!/usr/bin/env bash
# Runs the quickstart end to end with the freshly built binaries:
#   copies this folder into a fresh directory (or $1), makes it a git repository,
#   runs `revis loop --watch` with the offline search advisor, shows the session,
#   and exits 0 only if the best iteration's val_loss beats the baseline's.
# The daemon state lives in a temporary REVIS_HOME unless REVIS_HOME is set; a daemon this
# script had to start is stopped at the end.
set -euo pipefail

# REVIS_BIN_DIR names the directory of the binaries (default: the build tree's); REVIS_BIN_DIR=PATH
# uses the `revis` that PATH finds, as an installed one (pip, uv, pipx, cargo install) is used.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${REVIS_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/debug}"
if [[ "$bin" == PATH ]]; then
  if ! command -v revis >/dev/null 2>&1; then
    echo "error: REVIS_BIN_DIR=PATH, but no revis is on PATH" >&2
    exit 1
  fi
  echo "==> revis: $(command -v revis) ($(revis --version))"
elif [[ ! -x "$bin/revis" || ! -x "$bin/revisd" ]]; then
  echo "error: $bin/revis or $bin/revisd is missing; run \`cargo build --workspace --bins\` first" >&2
  exit 1
else
  export PATH="$bin:$PATH"
fi

# Short paths: the daemon's unix socket lives under REVIS_HOME and must stay under 108 bytes.
scratch="$(mktemp -d /tmp/revis-quickstart.XXXXXX)"
project="${1:-$scratch/project}"
if [[ -e "$project" && -n "$(ls -A "$project")" ]]; then
  echo "error: $project exists and is not empty" >&2
  exit 1
fi
export REVIS_HOME="${REVIS_HOME:-$scratch/home}"

mkdir -p "$project"
(cd "$here" && tar --exclude=run.sh --exclude=__pycache__ --exclude=.revis --exclude=output -cf - .) |
  (cd "$project" && tar -xf -)
cd "$project"
git init -q -b main
git add -A
git -c user.name="Revis Quickstart" -c user.email="quickstart@revis.invalid" \
  -c commit.gpgsign=false commit -q -m "quickstart: baseline"

started_daemon=0
if ! revis daemon status >/dev/null 2>&1; then
  started_daemon=1
fi
cleanup() {
  rm -f "$scratch/show.json"
  if [[ "$started_daemon" == 1 ]]; then
    revis daemon stop >/dev/null 2>&1 || true
    if [[ "$REVIS_HOME" == "$scratch/home" ]]; then
      tmux -S "$REVIS_HOME/tmux.sock" kill-server >/dev/null 2>&1 || true
    fi
  fi
  # Whatever is left (project, daemon home) stays for inspection; an empty scratch dir does not.
  rmdir "$scratch" 2>/dev/null || true
}
trap cleanup EXIT

echo "==> project: $project"
echo "==> REVIS_HOME: $REVIS_HOME"
echo "==> revis loop --name quickstart --max-iterations 12 --advisor search --watch"
revis loop --name quickstart --max-iterations 12 --advisor search --watch
echo
echo "==> revis show quickstart"
revis show quickstart
echo

revis show quickstart --json >"$scratch/show.json"
python3 - "$scratch/show.json" <<'PY'
import json, sys

with open(sys.argv[1], encoding="utf-8") as f:
    session = json.load(f)
iterations = session.get("iterations") or []
baseline = next((it.get("primary") for it in iterations if it.get("number") == 0), None)
best = session.get("best") or {}
value = best.get("value")
if baseline is None or value is None:
    state, reason = session.get("state"), session.get("stop_reason")
    print(f"quickstart: no result (state={state}, stop_reason={reason})")
    sys.exit(1)
gain = (baseline - value) / abs(baseline) * 100 if baseline else 0.0
where = best.get("iteration")
print(f"quickstart: val_loss {baseline:.4f} (baseline) -> {value:.4f} (iteration {where}), {gain:.1f}% lower")
sys.exit(0 if value < baseline else 1)
PY
