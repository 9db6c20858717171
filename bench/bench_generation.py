"""Benchmark: the LSTM language model against GPT-2 (same tokenizer) on the demo corpus and on real reviews.

For each dataset, in a temporary project: the TF-IDF classifier (the agreement judge; on the demo it
is the repo's best family too), the shared byte-level BPE tokenizer, both LMs, then the generate
stage: validation perplexity, BLEU/chrF of test-document continuations, distinct-2, class agreement.

- ``demo``: the repo's processed demo split (``data/processed``; run ``dvc repro`` first), default params.
- ``res``: RES1 + RES2 (ElSahar & El-Beltagy 2015, ``../shared/data/elsahar-multidomain``), positive and
  negative reviews, ``GEN_RES_DOCS`` per class (default 1000) drawn with seed 1; split 70/15/15.
  Skipped cleanly when ``../shared/data`` is absent.

``GEN_EPOCHS`` (default: params, 8, and ``GEN_RES_EPOCHS`` = 12 on RES) caps the LM epochs;
``GEN_AGREEMENT`` (default 50) texts per class for the agreement check. Writes ``reports/bench/generation.json``:
``{"rows": [{dataset, model, perplexity, bleu, chrf, distinct_2, train_tokens_per_s, ...}],
"class_agreement": {rate, chance, dataset, model, classifier, by_dataset}, "machine": {...}}``.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

sys.path.insert(0, str(REPO))  # this checkout's pipeline
from pipeline.training.run_record import RunRecord

RES = REPO.parent / "shared" / "data" / "elsahar-multidomain"
RES_DOCS = int(os.environ.get("GEN_RES_DOCS", "1000"))
EPOCHS = os.environ.get("GEN_EPOCHS")
RES_EPOCHS = int(os.environ.get("GEN_RES_EPOCHS", "12"))
AGREEMENT = int(os.environ.get("GEN_AGREEMENT", "50"))


def load_res(per_class: int, seed: int = 1) -> list[dict[str, str]]:
    """Positive and negative RES1 + RES2 reviews, ``per_class`` of each."""
    csv.field_size_limit(10**8)
    by_class: dict[str, list[str]] = {"negative": [], "positive": []}
    for name in ("RES1", "RES2"):
        with gzip.open(RES / f"{name}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                pol = int(float(r["polarity"]))
                if r["text"].strip() and pol != 0:
                    by_class["positive" if pol > 0 else "negative"].append(r["text"])
    rng = random.Random(seed)
    return [{"text": t, "label": lab} for lab, texts in by_class.items() for t in rng.sample(texts, per_class)]


def make_params(work: Path, **data_section: Any) -> Any:
    from pipeline.config import parse_params

    data = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    data["base"].update(
        mlflow_tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
        raw_dir=str(work / "raw"),
        processed_dir=str(work / "processed"),
        models_dir=str(work / "models"),
        reports_dir=str(work / "reports"),
    )
    data["data"].update(data_section)
    data["train"]["architectures"] = ["tfidf_linear"]
    data["tune"]["architectures"] = []  # a tuned architecture must be trained
    data["generate"]["train"]["state_dir"] = str(work / "lm-state")
    if EPOCHS:
        data["generate"]["train"]["max_epochs"] = int(EPOCHS)
    data["generate"]["eval"]["agreement_per_class"] = AGREEMENT
    return parse_params(data)


def run_dataset(params: Any) -> dict[str, Any]:
    from pipeline.generation.training import train_lm
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.generate import generate
    from pipeline.stages.lm_tokenizer import build_tokenizer
    from pipeline.stages.train import train

    train(params, "tfidf_linear")
    evaluate(params)
    build_tokenizer(params)
    timings = {}
    for name in params.generate.models:
        started = time.perf_counter()
        train_lm(params, name)
        timings[name] = round(time.perf_counter() - started, 1)
    result = generate(params)
    for row in result["rows"]:
        run = RunRecord.load(Path(params.base.models_dir) / "lm" / row["model"]).model_dump()
        row.update(
            epochs_run=run["epochs_run"],
            best_epoch=run["best_epoch"],
            train_stream_tokens=run["train_stream_tokens"],
            stage_seconds=timings[row["model"]],
            train_tokens_per_s=run["train_tokens_per_s"],  # in the run log, not metrics.json
            torch_threads=run["torch_threads"],
            class_agreement=result["class_agreement"]["by_model"][row["model"]]["rate"],
        )
    return result


def main() -> None:
    logging.disable(logging.WARNING)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    import torch

    from pipeline.data.preprocessing import preprocess

    rows: list[dict[str, Any]] = []
    agreement: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp:
        demo_src = REPO / "data" / "processed"
        if (demo_src / "train.jsonl").is_file():
            work = Path(tmp) / "demo"
            shutil.copytree(demo_src, work / "processed")
            result = run_dataset(make_params(work))
            rows += result["rows"]
            agreement["demo"] = result["class_agreement"]
        else:
            print(f"demo skipped: {demo_src} is absent (run `dvc repro preprocess` first)")
        if RES.is_dir():
            work = Path(tmp) / "res"
            work.mkdir()
            (work / "res.jsonl").write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in load_res(RES_DOCS)), encoding="utf-8"
            )
            params = make_params(
                work, source="file", path=str(work / "res.jsonl"), score_column=None, label_column="label"
            )
            if not EPOCHS:  # 3.7× the demo's training text: more epochs before the val loss stops falling
                g = params.generate
                params = params.model_copy(
                    update={
                        "generate": g.model_copy(
                            update={"train": g.train.model_copy(update={"max_epochs": RES_EPOCHS})}
                        )
                    }
                )
            preprocess(params)
            result = run_dataset(params)
            rows += result["rows"]
            agreement["res"] = result["class_agreement"]
        else:
            print(f"res skipped: {RES} is absent (needs ../shared/data)")
    if not rows:
        return
    headline = agreement.get("res") or agreement["demo"]
    figures = {
        "rows": rows,
        "class_agreement": {
            "rate": headline["rate"],
            "chance": headline["chance"],
            "dataset": "res" if "res" in agreement else "demo",
            "model": headline["model"],
            "classifier": headline["classifier"],
            "by_dataset": agreement,
        },
        "machine": {
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "settings": {
            "res_docs_per_class": RES_DOCS,
            "max_epochs": EPOCHS or {"demo": "params", "res": RES_EPOCHS},
            "agreement_per_class": AGREEMENT,
        },
    }
    path = save("generation", figures)
    for r in rows:
        table(
            [
                (
                    f"{r['dataset']:>5} {r['model']:<8}",
                    f"ppl {r['perplexity']}  BLEU {r['bleu']:.2f}  chrF {r['chrf']:.2f}  "
                    f"distinct-2 {r['distinct_2']:.3f}  {r['train_tokens_per_s']} tokens/s  "
                    f"agreement {r['class_agreement']:.2f}",
                )
            ]
        )
    for name, a in agreement.items():
        print(
            f"  class agreement {name} ({a['model']}, judged by {a['classifier']}): {a['rate']} (chance {a['chance']})"
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
