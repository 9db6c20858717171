"""GPU check: train a classifier and the GPT-2 on the GPU in bf16 and on the CPU, then reload on the CPU.

Run by ``bench/gpu_check.sh`` on a machine with a CUDA GPU (``--devices cpu`` runs the CPU half alone, for
a dry run anywhere). In a temporary project: the demo corpus (each review repeated with its words shuffled,
``--copies``), ``preprocess`` and ``lm_tokenizer``, then per device ``train <arch>`` and ``train_lm gpt2``
through ``python -m pipeline`` (``accelerator`` and ``precision`` set: ``gpu`` + ``bf16-mixed``, ``cpu`` +
``auto``). Prints per run: samples/s and tokens/s of training batches, precision, peak GPU memory; after the
first device's runs (the GPU's), a process without CUDA (``CUDA_VISIBLE_DEVICES=``) reloads the classifier
checkpoint and the GPT-2 folder on the CPU and predicts. Writes ``reports/bench/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

from pipeline.training.run_record import RunRecord
from scraping.demo_site.build import load_corpus

RELOAD = """
import json, sys, torch
from pipeline.serving.predict import load_predictor
from pipeline.training.module import ClassifierModule
from pipeline.generation.store import load_lm
assert not torch.cuda.is_available()
arch = sys.argv[1]
ClassifierModule.load_from_checkpoint(f"models/{arch}/best.ckpt", map_location="cpu", weights_only=True)
rows = [json.loads(line) for line in open("data/processed/test.jsonl", encoding="utf-8")][:4]
probs = load_predictor(f"models/{arch}", "data/processed").predict_proba(rows)
lm = load_lm("models/lm/gpt2")
print(json.dumps({"classifier_rows": len(probs), "row_sum": round(float(sum(probs[0])), 4),
                  "lm": type(lm.net).__name__, "lm_device": str(next(lm.net.parameters()).device)}))
"""


def write_project(root: Path, arch: str, copies: int, epochs: int) -> None:
    rng = random.Random(0)
    docs = []
    for k in range(copies):
        for doc in load_corpus():
            words = doc["text"].split()
            if k:
                rng.shuffle(words)
            docs.append({"url": f"http://demo/{doc['id']}/{k}", "text": " ".join(words), "score": doc["score"]})
    (root / "data" / "raw").mkdir(parents=True)
    lines = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    (root / "data" / "raw" / "docs.jsonl").write_text(lines, encoding="utf-8")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["train"].update(architectures=[arch], max_epochs=epochs, patience=epochs, seeds=[])
    params["tune"]["architectures"] = []
    params["generate"]["train"].update(max_epochs=epochs, patience=epochs)
    params["preprocess"]["num_workers"] = 0
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def set_device(root: Path, accelerator: str, precision: str) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    for section in (params["train"], params["generate"]["train"]):
        section.update(accelerator=accelerator, precision=precision, devices=1, strategy="auto")
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


def stage(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=root, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"gpu_check: `python -m pipeline {' '.join(args)}` failed:\n{done.stderr[-3000:]}")
    print(f"  {' '.join(args)}: {time.perf_counter() - started:.1f} s", flush=True)


def figures(record: dict, name: str, device: str) -> dict:
    time_s = record["train_time_s"] or float("nan")
    samples = record.get("train_samples") or record.get("train_blocks") or 0
    return {
        "run": f"{name} on {device}",
        "precision": record["precision"],
        "samples_per_s": round(samples * record["epochs_run"] / time_s, 1),
        "tokens_per_s": record.get("train_tokens_per_s"),
        "gpu_memory_peak_mb": record.get("gpu_memory_peak_mb"),
        "train_time_s": record["train_time_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--arch", default="transformer", help="classifier architecture (train stage)")
    parser.add_argument("--copies", type=int, default=8, help="times the demo corpus is repeated")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--devices", default="gpu,cpu", help="gpu,cpu or cpu (a dry run without a GPU)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    results, reload = [], None
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        root = Path(tmp)
        write_project(root, args.arch, args.copies, args.epochs)
        stage(root, "preprocess", env=env)
        stage(root, "lm_tokenizer", env=env)
        devices = args.devices.split(",")
        for device in devices:
            set_device(root, device, "bf16-mixed" if device == "gpu" else "auto")
            stage(root, "train", args.arch, env=env)
            stage(root, "train_lm", "gpt2", env=env)
            for folder, name in ((root / "models" / args.arch, args.arch), (root / "models" / "lm" / "gpt2", "gpt2")):
                results.append(figures(RunRecord.load(folder).model_dump(), name, device))
            if device == devices[0]:  # the GPU's models (or the CPU's, in a dry run)
                cpu_only = {**env, "CUDA_VISIBLE_DEVICES": ""}
                done = subprocess.run(
                    [sys.executable, "-c", RELOAD, args.arch], cwd=root, env=cpu_only, capture_output=True, text=True
                )
                if done.returncode:
                    raise SystemExit(f"gpu_check: reloading on the CPU failed:\n{done.stderr[-3000:]}")
                reload = json.loads(done.stdout.strip().splitlines()[-1])
    for r in results:
        table([(k, v) for k, v in r.items()])
        print()
    speedups = {}
    for name in (args.arch, "gpt2"):
        by = {r["run"].split(" on ")[1]: r for r in results if r["run"].startswith(f"{name} on ")}
        if "gpu" in by and "cpu" in by:
            speedups[name] = round(by["gpu"]["samples_per_s"] / by["cpu"]["samples_per_s"], 2)
    print("GPU / CPU samples/s:", speedups or "(no GPU run)")
    print(f"reloaded on CPU ({devices[0]} checkpoints):", reload)
    print(f"wrote {save('gpu_check', {'runs': results, 'gpu_vs_cpu_samples_per_s': speedups, 'reload': reload})}")


if __name__ == "__main__":
    main()
