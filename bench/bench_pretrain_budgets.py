"""Fine-tuned BERT against the linear floors for each pretraining time budget, on RES.

One small BERT is pre-trained with whole-word masking on every domain of the shared multi-domain reviews
(RES1 + RES2, ATT, PROD: labelled or not, any polarity), minus the test documents of every setting and seed
(and their near-duplicates), once per time budget of ``RES_PRETRAIN_BUDGETS`` (minutes, default ``2,5,10``:
``pretrain.max_minutes``, no epoch starts that would overrun it; ``max_epochs``, which the learning-rate schedule
spans, is what fits the budget at the epoch time of a one-epoch calibration run).
Each pretrained model is fine-tuned on the training part of every setting (``RES_SETTINGS``, default the two
balanced ones) for every seed (``RES_SEEDS``, default 1,2,3) and scored on the test part, beside the three
linear floors on the same splits (C chosen on validation) and the floor with the best validation macro-F1.

Writes ``reports/bench/res_pretrain_budgets.json`` (one row per budget and setting: ``budget_minutes``,
``pretrain_documents``, ``pretrain_domains``, ``pretrain_epochs``, ``pretrain_time_s``,
``pretrain_val_perplexity``, ``accuracy``/``accuracy_std``, ``macro_f1``/``macro_f1_std``, ``best_floor``,
``best_floor_accuracy``, ``best_floor_macro_f1``) and the figure ``reports/bench/res_pretrain_budgets.png``.
Needs ``../shared/data/elsahar-multidomain``; skips cleanly without it. About 20 min + 3 x the budgets on 2 cores.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["RES_ARCHS"] = "bert"  # bench_res's params: the floors, and bert for the finetune stage
os.environ.setdefault("RES_SETTINGS", "2class-balanced,3class-balanced")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_res as res_bench
from _common import OUT_DIR, save, table

KEYS = ("setting", "budget_minutes", "pretrain_lr")  # a run replaces the file's rows of its own keys only
BUDGETS = [float(b) for b in os.environ.get("RES_PRETRAIN_BUDGETS", "2,5,10").split(",") if b]
LR = float(os.environ["RES_PRETRAIN_LR"]) if os.environ.get("RES_PRETRAIN_LR") else None  # else params.yaml's
OTHER_DOMAINS = ("ATT", "PROD")  # the shared multi-domain reviews besides RES
THREADS = os.environ.get("PIPELINE_NUM_THREADS") or str(len(os.sched_getaffinity(0)))  # what the budgets bought


def other_domains() -> list[str]:
    """The review texts of the other domains (any polarity)."""
    csv.field_size_limit(10**8)
    texts = []
    for name in OTHER_DOMAINS:
        with gzip.open(res_bench.DATA / f"{name}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
            texts += [r["text"] for r in csv.DictReader(fh) if r["text"].strip()]
    return texts


def bert_scores(params: Any) -> tuple[float, float]:
    """Fine-tune ``bert`` from the pretrained folder on this split; its test accuracy and macro-F1."""
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.finetune import finetune

    finetune(params, "bert")
    only_bert = params.model_copy(
        update={
            "train": params.train.model_copy(update={"architectures": []}),
            "ensemble": params.ensemble.model_copy(update={"enabled": False}),
        }
    )
    m = evaluate(only_bert)["bert"]
    return m["accuracy"], m["f1_macro"]


def figure(rows: list[dict[str, Any]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    settings = sorted({r["setting"] for r in rows})
    rates = sorted({r.get("pretrain_lr") for r in rows}, key=str)  # one line style per learning rate
    for i, setting in enumerate(settings):
        colour = f"C{i}"
        mine = [r for r in rows if r["setting"] == setting]
        for lr in sorted({r.get("pretrain_lr") for r in mine}, key=str):
            j = rates.index(lr)
            line = sorted((r for r in mine if r.get("pretrain_lr") == lr), key=lambda r: r["budget_minutes"])
            style = ("-", ":")[j % 2]
            ax.errorbar([r["budget_minutes"] for r in line], [r["accuracy"] for r in line],
                        yerr=[r["accuracy_std"] for r in line], marker="os^"[j % 3], color=colour, capsize=3,
                        linestyle=style, label=f"{setting}: fine-tuned BERT, pretraining lr {lr}")  # fmt: skip
            ax.axhline(line[0]["best_floor_accuracy"], color=colour, linestyle=style, alpha=0.5, linewidth=1,
                       label=f"{setting}: best floor on the same splits ({line[0]['best_floor']})")  # fmt: skip
    threads = "/".join(str(t) for t in sorted({r.get("torch_threads") for r in rows}, key=str))
    ax.set_xlabel(f"pretraining budget (minutes, {threads} torch thread(s))")
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.set_title("RES: BERT pre-trained on every review domain, by budget")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = OUT_DIR / "res_pretrain_budgets.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    if not res_bench.DATA.is_dir():
        print(f"skipped: {res_bench.DATA} is absent (the benchmark needs ../shared/data)")
        return
    logging.disable(logging.WARNING)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from pipeline.data.jsonl import write_jsonl
    from pipeline.data.preprocessing import preprocess

    res = res_bench.load_res()
    extra = other_domains()
    floors: dict[tuple[str, int], dict[str, tuple[float, float, float]]] = {}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-budgets-") as tmp:
        work = Path(tmp)
        write_jsonl(work / "corpus" / "res.jsonl", ({"text": text} for text, _ in res))
        write_jsonl(work / "corpus" / "other-domains.jsonl", ({"text": text} for text in extra))
        # the learning-rate schedule (warmup, then linear decay) spans max_epochs: size it to what fits the
        # budget at the epoch time of a one-epoch calibration run, with the budget itself as the guard
        lr = {"lr": LR} if LR is not None else {}
        calibration = res_bench.pretrain_on_res(work, res, max_epochs=1, patience=1, **lr)
        epoch_s = calibration["train_time_s"]
        for budget in BUDGETS:
            epochs = max(1, int(budget * 60 // epoch_s))
            started = time.perf_counter()
            record = res_bench.pretrain_on_res(work, res, max_minutes=budget, max_epochs=epochs, patience=epochs, **lr)
            pretrain_s = time.perf_counter() - started
            for setting, (_split, classes) in res_bench.SETTINGS.items():
                acc: list[float] = []
                f1: list[float] = []
                for seed in res_bench.SEEDS:
                    res_bench.write_rows(work / "res.csv", res_bench.sample(res, setting, classes, seed))
                    params = res_bench.make_params(work, seed, "light")
                    preprocess(params)
                    if (setting, seed) not in floors:
                        floors[setting, seed] = res_bench.floor_scores(params)
                    a, f = bert_scores(params)
                    acc.append(a)
                    f1.append(f)
                    print(f"  budget {budget:g} min, {setting} seed {seed}: bert accuracy {a:.3f}", flush=True)
                seeds = res_bench.SEEDS
                best = max(res_bench.FLOORS, key=lambda m: statistics.fmean(floors[setting, s][m][2] for s in seeds))
                a_mean, a_std = res_bench.mean_std(acc)
                f_mean, f_std = res_bench.mean_std(f1)
                rows.append(
                    {
                        "dataset": "RES",
                        "setting": setting,
                        "model": "bert",
                        "budget_minutes": budget,
                        "pretrain_documents": record["corpus"]["documents"],
                        "pretrain_domains": ["RES1", "RES2", *OTHER_DOMAINS],
                        "pretrain_lr": record["params"]["pretrain.lr"],
                        "pretrain_epochs": record["epochs_run"],
                        "pretrain_max_epochs": epochs,
                        "calibration_epoch_s": round(epoch_s, 1),
                        "pretrain_time_s": round(pretrain_s, 1),
                        "pretrain_val_perplexity": record["best_val_perplexity"],
                        "whole_word_masking": True,
                        "torch_threads": int(THREADS),
                        "finetune_epochs": res_bench.FINETUNE_EPOCHS,
                        "accuracy": a_mean,
                        "accuracy_std": a_std,
                        "macro_f1": f_mean,
                        "macro_f1_std": f_std,
                        "best_floor": best,
                        "best_floor_accuracy": res_bench.mean_std([floors[setting, s][best][0] for s in seeds])[0],
                        "best_floor_macro_f1": res_bench.mean_std([floors[setting, s][best][1] for s in seeds])[0],
                        "seeds": seeds,
                    }
                )
            # after each budget (a long run keeps what it measured), beside the earlier rows of other budgets,
            # settings or learning rates
            save("res_pretrain_budgets", res_bench.merged("res_pretrain_budgets", rows, KEYS))
    print("saved", figure(res_bench.merged("res_pretrain_budgets", rows, KEYS)))
    table(
        [
            (
                f"{r['setting']:<16} {r['budget_minutes']:>5g} min ({r['pretrain_epochs']} epochs)",
                f"bert acc {r['accuracy']:.3f}±{r['accuracy_std']:.3f} macro-F1 {r['macro_f1']:.3f}   "
                f"best floor {r['best_floor']} acc {r['best_floor_accuracy']:.3f}",
            )
            for r in rows
        ]
    )


if __name__ == "__main__":
    main()
