#!/usr/bin/env bash
# Installs what dist/build.sh built the way users do, with no Rust on PATH, and uses it:
#   1. the wheel: its tags and files, auditwheel's verdict, its size;
#   2. pip into a fresh venv (timed): both binaries on the venv's PATH, --version with the
#      commit, the revisd beside revis started even with another revisd first on PATH, and
#      the quickstart end to end with the installed revis;
#   3. `uv tool install` and `pipx install` of the wheel (timed): both binaries linked, and
#      the linked revis starts the revisd of its own tool environment;
#   4. the static musl binaries: no dynamic section, --version, and the quickstart loop.
# Usage: dist/check.sh [DIST_DIR] (default target/dist). Tools (auditwheel, uv, pipx, pinned)
# go into a virtualenv under ~/.cache/revis/dist-tools. Prints a summary line per measure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
dist="$(cd "${1:-target/dist}" && pwd)"
wheel="$(ls "$dist"/revis-*.whl | head -1)"
tarball="$(ls "$dist"/revis-*-linux-musl.tar.gz | head -1)"
commit="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"

tools="${XDG_CACHE_HOME:-$HOME/.cache}/revis/dist-tools"
pins=(auditwheel==6.8.2 uv==0.13.10 pipx==1.18.16)
if ! "$tools/bin/python" -c "import auditwheel, pipx" >/dev/null 2>&1 || [[ ! -x "$tools/bin/uv" ]]; then
  echo "+ python3 -m venv $tools && pip install ${pins[*]}"
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
fi

# Short paths: daemon sockets live under the REVIS_HOMEs made here.
scratch="$(mktemp -d /tmp/revis-dist.XXXXXX)"
homes=()
cleanup() {
  for home in ${homes[@]+"${homes[@]}"}; do
    if [[ -S "$home/revisd.sock" ]]; then
      REVIS_HOME="$home" "$scratch/venv/bin/revis" daemon stop >/dev/null 2>&1 || true
    fi
    tmux -S "$home/tmux.sock" kill-server >/dev/null 2>&1 || true
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

# The user's PATH without any directory that holds a Rust toolchain.
clean_path=""
IFS=: read -ra entries <<<"$PATH"
for dir in "${entries[@]}"; do
  if [[ -n "$dir" && ! -x "$dir/cargo" && ! -x "$dir/rustc" && ! -x "$dir/rustup" ]]; then
    clean_path="${clean_path:+$clean_path:}$dir"
  fi
done
if PATH="$clean_path" command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is still on the cleaned PATH ($clean_path)" >&2
  exit 1
fi

fail() {
  echo "error: $*" >&2
  exit 1
}
# Seconds since $1 (from `date +%s.%N`), to a tenth.
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# `revis daemon start` in a fresh home with `$1` as revis; prints the daemon's binary.
daemon_binary() {
  local revis="$1" home
  home="$(mktemp -d "$scratch/home.XXXX")"
  homes+=("$home")
  REVIS_HOME="$home" "$revis" daemon start >/dev/null
  REVIS_HOME="$home" "$revis" daemon status | sed -n 's/^  binary *//p'
  REVIS_HOME="$home" "$revis" daemon stop >/dev/null
}
# The version line must name this commit.
check_version() {
  local line
  line="$("$@" --version)"
  [[ "$line" == *"$commit"* ]] || fail "$* --version printed '$line', not commit $commit"
  echo "    $line"
}

echo "==> the wheel: $(basename "$wheel")"
[[ "$(basename "$wheel")" == *manylinux_2_17_*musllinux_1_2_* ]] || fail "the wheel is not tagged manylinux_2_17 and musllinux_1_2"
files="$(python3 -m zipfile -l "$wheel")"
for script in revis revisd; do
  grep -q "revis-[^/]*\.data/scripts/$script " <<<"$files" || fail "$script is not among the wheel's scripts: $files"
done
audit="$("$tools/bin/auditwheel" show "$wheel")"
echo "$audit" | sed 's/^/    /'
# Static binaries: no shared library and no versioned glibc symbol, so every manylinux tag holds.
grep -q "requires no external shared libraries" <<<"$audit" || fail "auditwheel finds shared libraries in the wheel"
grep -q 'consistent with the following platform tag: "manylinux_2_5' <<<"$audit" \
  || fail "auditwheel does not find the wheel manylinux-compliant"
wheel_bytes="$(stat -c %s "$wheel")"

echo "==> pip install into a fresh venv (PATH without Rust)"
python3 -m venv "$scratch/venv"
start="$(date +%s.%N)"
PATH="$clean_path" "$scratch/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
pip_seconds="$(since "$start")"
venv_path="$scratch/venv/bin:$clean_path"
for program in revis revisd; do
  [[ "$(PATH="$venv_path" command -v "$program")" == "$scratch/venv/bin/$program" ]] || fail "$program is not on the venv's PATH"
  check_version "$scratch/venv/bin/$program"
done

# An older revisd first on PATH must never be the one started: it would leave a mark.
mkdir -p "$scratch/elsewhere"
printf '#!/bin/sh\ntouch %s/elsewhere/started\nexit 1\n' "$scratch" >"$scratch/elsewhere/revisd"
chmod +x "$scratch/elsewhere/revisd"
started="$(PATH="$scratch/elsewhere:$venv_path" daemon_binary "$scratch/venv/bin/revis")"
[[ "$started" == "$scratch/venv/bin/revisd" ]] || fail "the venv's revis started '$started', not the revisd beside it"
[[ ! -e "$scratch/elsewhere/started" ]] || fail "the revisd first on PATH was started"
echo "    the venv's revis started $started (another revisd was first on PATH)"

echo "==> the quickstart with the installed revis"
PATH="$scratch/elsewhere:$venv_path" REVIS_BIN_DIR=PATH "$root/examples/quickstart/run.sh" "$scratch/quickstart-pip"

echo "==> uv tool install and pipx install"
export UV_TOOL_DIR="$scratch/uv/tools" UV_TOOL_BIN_DIR="$scratch/uv/bin" UV_CACHE_DIR="$scratch/uv/cache"
start="$(date +%s.%N)"
PATH="$clean_path" "$tools/bin/uv" tool install --quiet --offline "$wheel"
uv_seconds="$(since "$start")"
export PIPX_HOME="$scratch/pipx" PIPX_BIN_DIR="$scratch/pipx/bin" PIPX_MAN_DIR="$scratch/pipx/man"
start="$(date +%s.%N)"
PATH="$clean_path" "$tools/bin/pipx" install --quiet "$wheel" >/dev/null
pipx_seconds="$(since "$start")"
for bin in "$scratch/uv/bin" "$scratch/pipx/bin"; do
  for program in revis revisd; do
    [[ -x "$bin/$program" ]] || fail "$program was not linked into $bin"
  done
  check_version "$bin/revis"
  started="$(PATH="$scratch/elsewhere:$bin:$clean_path" daemon_binary "$bin/revis")"
  [[ "$started" == "$(dirname "$(readlink -f "$bin/revis")")/revisd" ]] || fail "$bin/revis started '$started'"
  echo "    $bin/revis started $started"
done

echo "==> the static binaries: $(basename "$tarball")"
tar -C "$scratch" -xzf "$tarball"
musl="$(ls -d "$scratch"/revis-*-linux-musl)"
for program in revis revisd; do
  if readelf -d "$musl/$program" 2>/dev/null | grep -q NEEDED; then
    fail "$program links shared libraries: $(readelf -d "$musl/$program" | grep NEEDED)"
  fi
  check_version "$musl/$program"
done
PATH="$clean_path" REVIS_BIN_DIR="$musl" "$root/examples/quickstart/run.sh" "$scratch/quickstart-musl"
musl_bytes="$(stat -c %s "$musl/revisd")"

echo "==> measured (commit $commit)"
echo "    wheel: $(basename "$wheel"), $wheel_bytes bytes ($(awk -v b="$wheel_bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB)"
echo "    install: pip ${pip_seconds}s, uv tool ${uv_seconds}s, pipx ${pipx_seconds}s"
echo "    static revisd: $musl_bytes bytes"
