#!/usr/bin/env bash
# The loader and splits benches on two pinned cores of an otherwise idle machine (`taskset -c 0,1`),
# to read issue 13's and 14's ratios without the load of a shared 2-core VM: `bench loader` (1 process
# vs 2 workers, CPU encoding, padding; full-epoch peak RSS at ~1M and ~10M synthetic rows, fake cache)
# and `bench splits` on the ~1M-row set. Data: `retail-sim synth` (1,650 and 16,500 customers),
# prepared on all cores. About 6 min on a 16-core machine; logs to $OUT (default /tmp/two-core).
#   scripts/two_core_check.sh            # PY=python3 uses that interpreter with the tree on PYTHONPATH
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-/tmp/two-core}
SMALL=${SMALL:-1650}
LARGE=${LARGE:-16500}
BATCHES=${BATCHES:-3000}
D=/tmp/two-core-data
RS=("$PY" -m retail_sim)
PIN=(taskset -c 0,1)
mkdir -p "$OUT" "$D"
echo "cores: $(nproc), pinned to 0,1"
"${RS[@]}" synth --out "$D/raw-small" --customers "$SMALL" > "$OUT/synth-small.log" 2>&1 &
"${RS[@]}" synth --out "$D/raw-large" --customers "$LARGE" > "$OUT/synth-large.log" 2>&1
wait
for n in small large; do
  "${RS[@]}" splits --raw "$D/raw-$n" --out "$D/prep-$n" > "$OUT/splits-$n.log" 2>&1
  grep -E "kept|rows" "$OUT/splits-$n.log" | head -3
done
for i in 1 2; do
  echo "== bench loader, small set, run $i"
  "${PIN[@]}" "${RS[@]}" bench loader --prepared "$D/prep-small" --fake-cache --workers 2 --batches "$BATCHES" 2>&1 | tee "$OUT/loader-small-$i.log"
done
for n in small large; do
  echo "== full-epoch peak RSS, $n set"
  "${PIN[@]}" "${RS[@]}" bench loader --prepared "$D/prep-$n" --fake-cache --workers 0 --batches 200 --full-epoch 2>&1 | tee "$OUT/rss-$n.log"
done
echo "== bench splits, small set"
"${PIN[@]}" "${RS[@]}" bench splits --raw "$D/raw-small" 2>&1 | tee "$OUT/bench-splits-small.log"
