#!/bin/bash
# Compares builds of the replay bench on a shared machine: runs each bench
# binary given in turn, REPS times over, each doing ROUNDS paired rounds
# (FEEDWATCH_BENCH_PAIRED), so machine drift hits all of them alike; prints
# per binary the medians of parse-only and end-to-end frames/s and their
# ratio, by wall time and by thread CPU run time.
#
#   cargo bench --bench replay --no-run    # prints the binary's path; copy
#   benches/compare.sh 5 10 /tmp/bench-before /tmp/bench-after
set -euo pipefail
ROUNDS=${1:?rounds}; REPS=${2:?reps}; shift 2
for _ in $(seq "$REPS"); do
  for X in "$@"; do
    out=$(FEEDWATCH_BENCH_PAIRED=$ROUNDS "$X")
    pick='s/.*parse_only ([0-9]+) frames\/s, end_to_end ([0-9]+) frames\/s, end_to_end = ([0-9]+)%.*/\1 \2 \3/'
    w=$(echo "$out" | head -1 | sed -E "$pick")
    c=$(echo "$out" | tail -1 | sed -E "$pick")
    echo "$(basename "$X") $w $c"
  done
done | python3 -c "
import sys, statistics, collections
d = collections.defaultdict(list)
for l in sys.stdin:
    p = l.split(); d[p[0]].append([float(x) for x in p[1:]])
for k, v in d.items():
    m = lambda j: statistics.median(x[j] for x in v)
    print(f'{k:16s} n={len(v)} wall: parse {m(0):,.0f}/s e2e {m(1):,.0f}/s ratio {m(2):.0f}% | cpu: parse {m(3):,.0f}/s e2e {m(4):,.0f}/s ratio {m(5):.0f}%')
"
