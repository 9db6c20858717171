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

Self-attention (``transformer``) and BERT rows are always there: an architecture of ``FAMILIES`` that this
checkout does not train is trained (``transformer``) or pre-trained and fine-tuned (``bert``, with the pretrain
and finetune params) on the same splits in a temporary folder, and its rows carry ``trained_by: bench_export``.

The demo's networks are small (32-dimensional embeddings, 32 filters): their graphs take tens of microseconds,
and integer kernels pay only on larger products. So the benchmark also trains ``cnn`` at Kim (2014)'s size
(300-dimensional embeddings, 100 filters per kernel size; ``WIDE_CNN``) on the same splits, in a temporary
folder (its own MLflow store), and writes its rows, with ``train_overrides``, to
``reports/bench/export_wide_cnn.json``. ``EXPORT_WIDE=0`` skips it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

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
    for arch in [a for a in FAMILIES if a not in params.trained]:
        rows += [r | {"trained_by": "bench_export"} for r in trained_here(params, arch)]
    if not rows:
        sys.exit("bench_export: no network to export")
    path = save("export", rows)
    show(rows)
    print(f"wrote {path}")
    if os.environ.get("EXPORT_WIDE", "1") != "0":
        wide = [r | {"train_overrides": dict(WIDE_CNN)} for r in trained_here(params, "cnn", **WIDE_CNN)]
        show(wide)
        print(f"wrote {save('export_wide_cnn', wide)}")


WIDE_CNN = {"embedding_dim": 300, "cnn_filters": 100}
FAMILIES = ("transformer", "bert")  # self-attention and BERT: exported and timed even when the demo trains neither


def isolated(params: Any, work: Path, trained: list[str], finetuned: list[str], **train: Any) -> Any:
    """``params`` training ``trained`` and fine-tuning ``finetuned`` (with ``train`` overrides) in ``work``: its
    own models folder, MLflow store, states and pretrained BERT; no tuning, no ensemble."""
    from pipeline.tuning.space import override

    keys = {f"train.{k}": v for k, v in train.items()}
    return override(
        params,
        keys
        | {
            "base.models_dir": str(work / "models"),
            "base.mlflow_tracking_uri": f"sqlite:///{work / 'mlflow.db'}",
            "train.state_dir": str(work / "state"),
            "train.architectures": trained,
            "finetune.architectures": finetuned,
            "finetune.checkpoints": {},
            "finetune.state_dir": str(work / "finetune-state"),
            "pretrain.output_dir": str(work / "pretrained"),
            "pretrain.state_dir": str(work / "pretrain-state"),
            "ensemble.enabled": False,
            "tune.architectures": [],
        },
        source="bench_export",
    )


def trained_here(params: Any, arch: str, **train: Any) -> list[dict[str, Any]]:
    """``arch`` trained (a network: base seed, no tuned params) or pre-trained and fine-tuned (``bert``) on this
    checkout's splits in a temporary folder, then exported, checked and timed like the stage's models."""
    from pipeline.stages.export import export
    from pipeline.training.classifier import train_network

    with tempfile.TemporaryDirectory(prefix=f"bench-export-{arch}-") as tmp:
        work = Path(tmp)
        if arch == "bert":
            from pipeline.pretrained.pretraining import pretrain
            from pipeline.stages.finetune import finetune

            sub = isolated(params, work, ["tfidf_linear"], ["bert"], **train)
            print("bench_export: pre-training and fine-tuning bert (pretrain and finetune params)", flush=True)
            pretrain(sub)
            finetune(sub, "bert")
        else:
            sub = isolated(params, work, [arch], [], **train)
            print(f"bench_export: training {arch} {train or '(train params)'}", flush=True)
            train_network(sub, arch, work / "models" / arch, work / "state" / arch)
        return export(sub, timed=True, out_dir=work / "export")


def show(rows: list[dict[str, Any]]) -> None:
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


if __name__ == "__main__":
    main()
