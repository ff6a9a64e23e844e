#!/usr/bin/env bash
# Seeds the fuzz corpus with the project's own fixtures: a generated tree (every codec and edge
# case) and the broken corpus. Run from the repository root.
set -euo pipefail
corpus=fuzz/corpus/file_to_transform
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cargo run -q --release -p c2m-testkit --bin c2m-fixtures -- tree "$tmp/tree" --files-per-type 1 --events-per-file 3 --edge-cases >/dev/null
cargo run -q --release -p c2m-testkit --bin c2m-fixtures -- broken "$tmp/broken" >/dev/null
mkdir -p "$corpus"
# Keep seeds small: the fuzzer mutates small inputs far faster.
find "$tmp" -name '*.avro' -size -64k | while read -r f; do cp "$f" "$corpus/$(sha1sum "$f" | cut -c1-16).avro"; done
echo "seeded $(ls "$corpus" | wc -l) files into $corpus"
