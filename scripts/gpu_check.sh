#!/usr/bin/env bash
# The GPU check of issue 14: base model, bf16, B = 1024, samples/s of the training step (compact batch
# -> device -> BatchEncoder -> forward, backward, optimiser; `retail-sim bench train`, second pass over
# the same batches), with dynamic shapes, fixed shapes, and fixed shapes + torch.compile(dynamic=False)
# without and with CUDA graphs (mode reduce-overhead). Issue 14 measured 37K samples/s on an H100
# before the change (host-built dense batches).
#
#   scripts/gpu_check.sh                      # ~4-6 min on one H100/H200 (splits + cache ~2.5 min)
#   BEFORE=e07a91d scripts/gpu_check.sh       # also the tree of commit BEFORE on the same machine (+3 min)
#   on a machine without the venv or git: `git archive e07a91d | tar -x -C gpu-before` here, then there
#   PY=python3 RAW=synth BEFORE=e07a91d BEFORE_TREE=$PWD/gpu-before scripts/gpu_check.sh
#
# Needs CUDA and the venv in .venv (VENV=... to change; PY=python3 uses that interpreter with the
# tree on PYTHONPATH instead). Data: the real sample at ../shared/data/lgsr-sample, or RAW=..., or
# RAW=synth (800 synthetic customers, generated there). PREPARED=dir reuses a prepared folder with
# its tensor cache. The cache is built with 5 GraphSAGE steps: the check times steps, not quality.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PY:-$VENV/bin/python}
RS=("$PY" -m retail_sim)
RAW=${RAW:-../shared/data/lgsr-sample}
PREPARED=${PREPARED:-/tmp/gpu-check/prepared-sample}
STEPS=${STEPS:-30}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu STEPS=2 COMPILE=0: a dry run of the command lines
CONFIG=(--config configs/sample.toml)
[ "$RAW" = synth ] && CONFIG=()  # the synthetic weeks take the default split
COMMON=(${CONFIG[@]+"${CONFIG[@]}"} --prepared "$PREPARED" --presets base --batch-size 1024 --steps "$STEPS"
        --device "$DEVICE" --set train.bf16=true)

[ "$DEVICE" = cpu ] || "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())"
if [ ! -f "$PREPARED/tensor_cache/manifest.json" ]; then
  if [ "$RAW" = synth ]; then
    "${RS[@]}" synth --out /tmp/gpu-check/raw --customers 800 && RAW=/tmp/gpu-check/raw
  fi
  "${RS[@]}" splits ${CONFIG[@]+"${CONFIG[@]}"} --raw "$RAW" --out "$PREPARED"
  "${RS[@]}" cache ${CONFIG[@]+"${CONFIG[@]}"} --prepared "$PREPARED" --set cache.graph.steps=5 --set cache.graph.eval_pairs=1000
fi

if [ -n "${BEFORE:-}" ]; then  # the same bench from the tree of commit BEFORE, on a folder it prepared
  OLD=${BEFORE_TREE:-/tmp/gpu-check/src-$BEFORE}  # BEFORE_TREE: that tree already unpacked (no git there)
  OLD_PREPARED=/tmp/gpu-check/prepared-sample-$BEFORE  # its manifest must hold only that tree's config keys
  [ -d "$OLD" ] || { mkdir -p "$OLD" && git archive "$BEFORE" | tar -x -C "$OLD"; }
  OLD_RS=(env PYTHONPATH="$OLD:${PYTHONPATH:-}" "$PY" -m retail_sim)
  if [ ! -f "$OLD_PREPARED/tensor_cache/manifest.json" ]; then
    "${OLD_RS[@]}" splits ${CONFIG[@]+"${CONFIG[@]}"} --raw "$RAW" --out "$OLD_PREPARED"
    "${OLD_RS[@]}" cache ${CONFIG[@]+"${CONFIG[@]}"} --prepared "$OLD_PREPARED" --set cache.graph.steps=5 --set cache.graph.eval_pairs=1000
  fi
  echo "== before ($BEFORE): dynamic shapes, eager"
  "${OLD_RS[@]}" bench train "${COMMON[@]/$PREPARED/$OLD_PREPARED}"
fi
echo "== dynamic shapes, eager"
"${RS[@]}" bench train "${COMMON[@]}" --dynamic-shapes
echo "== fixed shapes, eager"
"${RS[@]}" bench train "${COMMON[@]}" --fixed-shapes
[ "${COMPILE:-1}" = 1 ] || exit 0
echo "== fixed shapes, torch.compile(dynamic=False)"
"${RS[@]}" bench train "${COMMON[@]}" --fixed-shapes --compile default
echo "== fixed shapes, torch.compile(dynamic=False, mode=reduce-overhead): CUDA graphs"
"${RS[@]}" bench train "${COMMON[@]}" --fixed-shapes --compile reduce-overhead
