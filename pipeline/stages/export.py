"""Stage **export**: ONNX (fp32 and dynamic int8) for every trained neural classifier, and their benchmark.

For each network of ``train.architectures`` and each model of ``finetune.architectures`` (the scikit-learn
baseline has no ONNX form here), loads ``<models_dir>/<arch>/`` with
:func:`pipeline.serving.predict.load_predictor` and writes:

- ``<models_dir>/export/<arch>/model.onnx``: the network's logits, inputs ``ids``/``lengths`` (networks) or
  ``input_ids``/``attention_mask`` (Hugging Face models), dynamic batch and length axes; recurrent encoders
  through their padded forward with a mask;
- ``<models_dir>/export/<arch>/model.int8.onnx``: ``onnxruntime.quantization.quantize_dynamic`` (int8 weights)
  of that graph or, for CNN encoders, of one that computes their convolutions as a matrix product (ONNX
  Runtime's integer convolution is slower than its float one; its integer matrix product is faster).

The fp32 graph's logits (and the matrix-product graph's, before it is quantised) are compared with PyTorch's on the
whole test split (in batches, and the shortest and longest documents alone): a gap over 1e-4 stops the stage.
``<models_dir>/export/export.json`` is a list with one row per architecture and runtime (``torch-fp32``,
``onnx-fp32``, ``onnx-int8``, ``torch-int8``: PyTorch dynamic quantisation of LSTM/GRU/Linear): ``arch``,
``runtime``, ``macro_f1`` (test split), ``size_mb`` (file, or serialised weights for PyTorch), and ``max_abs_diff``
(ONNX fp32 rows: the largest logit gap to PyTorch).
Latencies are measurements, not outputs (they vary with the machine's load, and an output must not):
``bench/bench_export.py`` times these files and writes ``reports/bench/export.json`` with ``p50_ms_b1`` and
``p50_ms_b32`` beside the same keys, which the report shows.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import cli
from pipeline.config import Params, load_params
from pipeline.data.jsonl import DataError, write_json
from pipeline.data.split import read_split
from pipeline.serving.export import OnnxPredictor, export_int8, export_onnx, exportable, onnx_files, torch_logits
from pipeline.serving.export_bench import bench_runtimes
from pipeline.serving.predict import load_predictor

TOLERANCE = 1e-4


def checked(base: Any, path: Path, rows: list[dict[str, Any]], threads: int) -> float:
    """The largest |ONNX - PyTorch| logit of the ONNX file ``path`` on every row (batches of 32, and the shortest and
    longest alone); a gap over :data:`TOLERANCE` stops the stage."""
    onnx = OnnxPredictor(base, path, threads)
    by_length = sorted(rows, key=lambda r: len(r["tokens"]))
    groups = [rows[i : i + 32] for i in range(0, len(rows), 32)] + [[by_length[0]], [by_length[-1]]]
    gap = max(float(np.abs(onnx.logits(g) - torch_logits(base, g)).max()) for g in groups)
    if gap > TOLERANCE:
        raise DataError(f"{path}: ONNX logits differ from PyTorch by {gap:.2e} (allowed {TOLERANCE:g})")
    return gap


def export(params: Params, timed: bool = False, out_dir: Path | None = None) -> list[dict[str, Any]]:
    """Export and check every network into ``out_dir`` (``<models_dir>/export``); its rows (with p50 latencies
    when ``timed``: the benchmark's call)."""
    base = params.base
    processed = Path(base.processed_dir)
    rows = read_split(processed / "test.jsonl")
    if not rows:
        raise DataError(f"{processed / 'test.jsonl'}: the test split is empty")
    from pipeline.runtime import apply_thread_policy

    # one intra-op thread unless $PIPELINE_NUM_THREADS says otherwise: batch-1 latency is a one-core figure, and
    # with two threads on the shared 2-core machine the medians swung up to 100x between runs
    threads = apply_thread_policy(1).intra_op
    by_length = sorted(rows, key=lambda r: len(r["tokens"]))
    out_dir = Path(base.models_dir) / "export" if out_dir is None else out_dir
    results: list[dict[str, Any]] = []
    for arch in [a for a in params.trained if exportable(a)]:
        model_dir = Path(base.models_dir) / arch
        if not (model_dir / "run.json").is_file():
            raise DataError(f"{model_dir / 'run.json'}: no trained model (run `dvc repro` for {arch} first)")
        predictor = load_predictor(model_dir, processed)
        files = onnx_files(out_dir, arch)
        example = [by_length[-1], by_length[0]]
        gap = checked(predictor, export_onnx(predictor, example, files["fp32"]), rows, threads)
        check = functools.partial(checked, predictor, rows=rows, threads=threads)
        export_int8(predictor, example, files["fp32"], files["int8"], check=check)
        bench = bench_runtimes(predictor, files, rows, threads, timed=timed)
        for row in bench:
            if row["runtime"] == "onnx-fp32":
                row["max_abs_diff"] = float(f"{gap:.3g}")
        results.extend(bench)
    write_json(out_dir / "export.json", [_untimed(r) for r in results])
    return results


def _untimed(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("p50_")}


def main() -> None:
    cli.parser(__doc__).parse_args()
    export(load_params())


if __name__ == "__main__":
    cli.run(main)
