#!/usr/bin/env bash
# The GPU check of issue 14: base model, bf16, B = 1024, samples/s of the training step (compact batch
# -> device -> BatchEncoder -> forward, backward, optimiser; `retail-sim bench train`, second pass over
# the same batches), with dynamic shapes, fixed shapes, and fixed shapes + torch.compile(dynamic=False)
# without and with CUDA graphs (mode reduce-overhead). Issue 14 measured 37K samples/s on an H100
# before the change (host-built dense batches).
#
#   scripts/gpu_check.sh                      # ~4-6 min on one H100/H200 (splits + cache ~2.5 min)
#   BEFORE=e07a91d scripts/gpu_check.sh       # also the tree of commit BEFORE on the same machine (+3 min)
#
# Needs the real sample at ../shared/data/lgsr-sample (or RAW=...), CUDA, and the venv in .venv
# (VENV=... to change). PREPARED=dir reuses a prepared folder with its tensor cache.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
RS="$VENV/bin/retail-sim"
RAW=${RAW:-../shared/data/lgsr-sample}
PREPARED=${PREPARED:-/tmp/gpu-check/prepared-sample}
STEPS=${STEPS:-30}
COMMON=(--config configs/sample.toml --prepared "$PREPARED" --presets base --batch-size 1024 --steps "$STEPS"
        --device cuda --set train.bf16=true)

"$VENV/bin/python" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
if [ ! -f "$PREPARED/tensor_cache/manifest.json" ]; then
  "$RS" splits --config configs/sample.toml --raw "$RAW" --out "$PREPARED"
  "$RS" cache --config configs/sample.toml --prepared "$PREPARED"
fi

if [ -n "${BEFORE:-}" ]; then  # the same bench from the tree of commit BEFORE, on a folder it prepared
  OLD=/tmp/gpu-check/src-$BEFORE
  OLD_PREPARED=/tmp/gpu-check/prepared-sample-$BEFORE  # its manifest must hold only that tree's config keys
  [ -d "$OLD" ] || { mkdir -p "$OLD" && git archive "$BEFORE" | tar -x -C "$OLD"; }
  OLD_RS=(env PYTHONPATH="$OLD" "$VENV/bin/python" -m retail_sim.cli)
  if [ ! -f "$OLD_PREPARED/tensor_cache/manifest.json" ]; then
    "${OLD_RS[@]}" splits --config configs/sample.toml --raw "$RAW" --out "$OLD_PREPARED"
    "${OLD_RS[@]}" cache --config configs/sample.toml --prepared "$OLD_PREPARED"
  fi
  echo "== before ($BEFORE): dynamic shapes, eager"
  "${OLD_RS[@]}" bench train "${COMMON[@]/$PREPARED/$OLD_PREPARED}"
fi
echo "== dynamic shapes, eager"
"$RS" bench train "${COMMON[@]}" --dynamic-shapes
echo "== fixed shapes, eager"
"$RS" bench train "${COMMON[@]}" --fixed-shapes
echo "== fixed shapes, torch.compile(dynamic=False)"
"$RS" bench train "${COMMON[@]}" --fixed-shapes --compile default
echo "== fixed shapes, torch.compile(dynamic=False, mode=reduce-overhead): CUDA graphs"
"$RS" bench train "${COMMON[@]}" --fixed-shapes --compile reduce-overhead
