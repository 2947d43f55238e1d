#!/usr/bin/env bash
# Regenerates tests/golden/*.out with the feedwatch binary given (default:
# target/release/feedwatch). Only for a deliberate behaviour change: the
# layered-layout move must leave every file as it was captured at d02540e.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/release/feedwatch}")
grep -v '^\s*#' tests/golden/cases.txt | grep -v '^\s*$' | while IFS='|' read -r name cmd; do
    name=$(echo "$name" | xargs)
    tmp=$(mktemp -d)
    out=tests/golden/$name.out
    : > "$out"
    IFS=$'\n' read -r -d '' -a steps < <(echo "${cmd//\{tmp\}/$tmp}" | sed 's/ && /\n/g'; printf '\0') || true
    for step in "${steps[@]}"; do
        # shellcheck disable=SC2086
        "$bin" $step > "$out" 2>/dev/null
    done
    rm -rf "$tmp"
    echo "$name: $(wc -l < "$out") lines"
done
