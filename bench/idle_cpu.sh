#!/usr/bin/env bash
# Measures the daemon's CPU use while idle: N sessions stopped (nothing to drive) and one
# session whose training sleeps (the actor only waits for the run to end).
# Usage: bench/idle_cpu.sh [seconds]   (builds nothing: run `cargo build --workspace --bins` first)
set -euo pipefail
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${REVIS_BIN_DIR:-$root/target/debug}
work=$(mktemp -d /tmp/revis-idle-XXXX)
export REVIS_HOME=$work/home NO_COLOR=1
trap '"$bin/revis" daemon stop >/dev/null 2>&1 || true; tmux -S "$REVIS_HOME/tmux.sock" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/p" && cd "$work/p"
git init -q -b main
echo '{"x": 1.0}' > c.json
cat > train.sh <<'SH'
[ -f "$HOME_GATE" ] || sleep 100000
mkdir -p "$REVIS_OUTPUT_DIR"; echo '{"metrics": {"loss": 1.0}}' > "$REVIS_OUTPUT_DIR/eval.json"
SH
cat > revis.yaml <<'YAML'
entry: {train: sh train.sh}
metrics: {primary: loss}
search: {space: {x: {file: c.json, key: x, low: 0.0, high: 2.0}}}
YAML
git add -A && git -c user.name=b -c user.email=b@b commit -qm init

for i in $(seq 1 10); do "$bin/revis" loop --name "idle$i" >/dev/null; "$bin/revis" stop "idle$i" >/dev/null; done
pid=$(cat "$REVIS_HOME/revisd.pid")
hz=$(getconf CLK_TCK)
# utime+stime of the daemon and of the children it waited for (tmux invocations).
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat"; }
measure() {
  sleep 2
  local t0 s0 t1 s1 rss
  t0=$(ticks); s0=$(date +%s.%N)
  sleep "$secs"
  t1=$(ticks); s1=$(date +%s.%N)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  python3 - "$t0" "$t1" "$s0" "$s1" "$hz" "$rss" "$1" <<'PY'
import sys
t0, t1, s0, s1, hz, rss = map(float, sys.argv[1:7])
cpu = (t1 - t0) / hz
print(f"{sys.argv[7]}: {cpu:.2f} s CPU over {s1 - s0:.1f} s = {100 * cpu / (s1 - s0):.2f} % of one core; RSS {rss / 1024:.1f} MiB")
PY
}
measure "10 stopped sessions, nothing running"
"$bin/revis" loop --name sleeper >/dev/null
measure "10 stopped sessions + 1 waiting on a sleeping training run"
