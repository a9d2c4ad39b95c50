#!/usr/bin/env bash
# Builds what users install, into target/dist/ (or $1):
#   - revis-<version>-py3-none-manylinux_2_17_<arch>.musllinux_1_2_<arch>.whl: `revis` and
#     `revisd` in a Python wheel (maturin's `bin` bindings), for pip, uv and pipx;
#   - revis-<version>-<arch>-linux-musl.tar.gz: the same two static binaries on their own
#     (no glibc needed: old Slurm login nodes, any distribution).
# Needs Rust with the musl target (`rustup target add <arch>-unknown-linux-musl`), a C compiler
# for it (Debian: musl-tools) and maturin (`pip install maturin`). ARCH=aarch64 on an x86_64
# machine cross-builds with maturin's zig linker (`pip install ziglang`): docs/install.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
arch="${ARCH:-$(uname -m)}"
target="$arch-unknown-linux-musl"
out="$(mkdir -p "${1:-target/dist}" && cd "${1:-target/dist}" && pwd)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"

cross=()
if [[ "$arch" != "$(uname -m)" ]]; then
  cross=(--zig)
fi

# One build makes both binaries: maturin builds the dist/wheel package with its `wheel`
# feature (pyproject.toml), so `revisd` comes from the same build. Rust's musl target links
# statically, with SQLite, libgit2 and ring built against musl; maturin's audit then checks
# that the binaries link nothing, which is what lets one wheel carry both the manylinux tag
# (any glibc from 2.17) and the musllinux one.
echo "+ maturin build --release --locked --target $target --compatibility manylinux_2_17 musllinux_1_2"
maturin build --release --locked --target "$target" ${cross[@]+"${cross[@]}"} \
  --compatibility manylinux_2_17 musllinux_1_2 --auditwheel check --out "$out"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
name="revis-$version-$arch-linux-musl"
mkdir -p "$stage/$name"
built="${CARGO_TARGET_DIR:-target}/$target/release"
cp "$built/revis" "$built/revisd" "$stage/$name/"
cp README.md CHANGELOG.md LICENSE "$stage/$name/"
tar -C "$stage" -czf "$out/$name.tar.gz" "$name"
ls -l "$out"
