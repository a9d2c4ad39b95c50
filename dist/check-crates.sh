#!/usr/bin/env bash
# The crates as cargo users get them:
#   1. `cargo package` of revis-proto, revisd and revis-cli: each packages on its own (its
#      migrations, proto files and build script inside; every sibling dependency versioned);
#   2. `cargo install --locked --path revisd` and `--path revis-cli` into a scratch root: both
#      binaries install from the lock file and print their version with the commit.
# The installs build in dev profile (what is checked is that the manifests install, not the
# optimizer) in a target dir of their own, so the test build's binaries (with fault points)
# stay as they are.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
commit="$(git rev-parse --short=12 HEAD)"
scratch="$(mktemp -d /tmp/revis-crates.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

crates=(revis-proto revisd revis-cli)
echo "+ cargo package --locked --no-verify ${crates[*]/#/-p }"
# --allow-dirty: CI checks out a clean tree, and a developer may run this before committing.
cargo package --locked --no-verify --allow-dirty ${crates[@]/#/-p } --target-dir "$scratch/package" >/dev/null
for crate in "${crates[@]}"; do
  listing="$(cargo package --locked --list --allow-dirty -p "$crate")"
  for needed in Cargo.toml README.md; do
    grep -qx "$needed" <<<"$listing" || { echo "error: $crate's package lacks $needed" >&2; exit 1; }
  done
  case "$crate" in
    revisd) grep -q '^migrations/.*\.sql$' <<<"$listing" || { echo "error: revisd's package lacks its migrations" >&2; exit 1; } ;;
    revis-proto) grep -qx 'revis/v1/revis.proto' <<<"$listing" || { echo "error: revis-proto's package lacks revis.proto" >&2; exit 1; } ;;
  esac
  echo "    $crate: $(wc -l <<<"$listing") files"
done

for path in revisd revis-cli; do
  echo "+ cargo install --locked --debug --path $path --root $scratch/root"
  cargo install --quiet --locked --debug --path "$path" --root "$scratch/root" --target-dir target/install-check
done
for program in revis revisd; do
  line="$("$scratch/root/bin/$program" --version)"
  [[ "$line" == *"$commit"* ]] || { echo "error: installed $program --version printed '$line'" >&2; exit 1; }
  echo "    $line"
done
