"""Benchmark the exported classifiers: test macro-F1, p50 latency at batch 1 and 32, and size per runtime.

Runs the export stage's code on this checkout's trained models (``dvc repro export`` first when they are
missing) with timing on: every
network of ``train.architectures`` (and ``finetune.architectures``) exported to ONNX fp32 and int8 again
(into a temporary folder),
checked against PyTorch, and timed under ``torch-fp32``, ``onnx-fp32``, ``onnx-int8`` and ``torch-int8`` in one
process, the runtimes taking turns call by call, one intra-op thread unless ``PIPELINE_NUM_THREADS`` is set.
Latencies are measurements, so they live here and not in the stage's outputs (which must be the same bytes
on every run). Writes ``reports/bench/export.json``: a list of rows with ``arch``, ``runtime``, ``macro_f1``,
``p50_ms_b1``, ``p50_ms_b32``, ``size_mb`` (and ``max_abs_diff`` on ONNX fp32 rows); the report shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

sys.path.insert(0, str(REPO))  # this checkout's pipeline


def main() -> None:
    os.chdir(REPO)
    from pipeline.config import load_params
    from pipeline.serving.export import exportable
    from pipeline.stages.export import export

    params = load_params()
    missing = [a for a in params.trained if exportable(a) and not (REPO / params.base.models_dir / a).is_dir()]
    if missing:  # a fresh checkout: train what is exported (the pipeline's own stages, as `make run` would)
        print(f"bench_export: {', '.join(missing)} not trained here; running `dvc repro export` first", flush=True)
        subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "export"], cwd=REPO, check=True)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:  # the stage's own outputs stay as they are
        rows = export(params, timed=True, out_dir=Path(tmp))
    if not rows:
        sys.exit("bench_export: no network to export (train.architectures has none)")
    path = save("export", rows)
    for r in rows:
        b1 = {x["runtime"]: x["p50_ms_b1"] for x in rows if x["arch"] == r["arch"]}
        table(
            [
                (
                    f"{r['arch']} {r['runtime']}",
                    f"macro-F1 {r['macro_f1']:.4f}, p50 b1 {r['p50_ms_b1']:.3f} ms "
                    f"({b1['onnx-fp32'] / r['p50_ms_b1']:.2f}x onnx-fp32), b32 {r['p50_ms_b32']:.3f} ms, "
                    f"{r['size_mb']:.3f} MB",
                )
            ]
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
