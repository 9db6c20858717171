#!/usr/bin/env bash
# GPU check for a machine with a CUDA GPU, from a fresh checkout: set up the venv if needed (`make setup`
# installs torch from PyPI, the CUDA build on Linux x86-64), then bench/gpu_check.py: a classifier and the
# GPT-2 trained on the GPU in bf16 and on the CPU (samples/s, peak GPU memory), the GPU checkpoints reloaded
# on the CPU. Extra arguments go to gpu_check.py (--arch, --copies, --epochs, --devices cpu for a dry run).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || make setup
export PYTHONPATH="$PWD" MLFLOW_DISABLE_TELEMETRY=true PYTHONUNBUFFERED=1
"$PY" - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU: "
      + (f"{torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}" if torch.cuda.is_available() else "none"))
PY
if [[ " $* " != *" --devices cpu"* ]] && ! "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  echo "gpu_check: torch sees no CUDA GPU (a CPU-only torch, or no driver); --devices cpu runs the CPU half" >&2
  exit 1
fi
timeout 420 "$PY" bench/gpu_check.py "$@"
