"""Benchmark on real reviews: RES (RES1 + RES2, ElSahar & El-Beltagy 2015) with the paper's protocol.

Settings: ``2class-balanced`` (positive/negative, majority class down-sampled),
``3class-balanced`` (positive/negative/mixed, each down-sampled to the smallest) and
``2class-unbalanced`` / ``3class-unbalanced`` (every review of those classes), 80/20
train/test split as in the paper's ``Split_*`` rows. Our models see only the 80%: the linear
floors pick C on a validation part of it and refit on all of it; the neural models use that
validation part for early stopping; the ensemble is fitted on it. Means over 3 seeds (seed =
split + init). Every row has ``accuracy`` and ``macro_f1`` (means, with their std over seeds),
``accuracy_ci95`` (Student-t over seeds), ``val_macro_f1``, ``selected: true`` on the one model per setting
chosen by validation macro-F1 (never by test), ``above_majority`` (above the majority class's test accuracy on
every seed), ``mcnemar_vs_best_floor`` (McNemar's test against the TF-IDF floor with the best validation
macro-F1, over the pooled test documents of every seed) and ``mcnemar_vs_floors`` (the same against each
floor); a ``majority`` row gives the majority-class
baseline. The file is written after each setting.

Pretrained transformers (``bert``): one small BERT is pre-trained with masked-language modelling on
RES's own text (RES1 + RES2, labelled or not, every polarity) minus the test documents of every
setting and seed (so no run's test document was seen in pretraining), then fine-tuned on each
run's training part from that local folder, like any checkpoint. The pretraining size is set by
``RES_PRETRAIN_EPOCHS`` (default 3) and the fine-tuning epochs by ``RES_FINETUNE_EPOCHS`` (default 6).

word2vec/fastText vectors (``RES_TRAIN=embedding_init=fasttext``) learn, like the product's default
``embeddings.corpus: all``, from every RES review minus the run's test documents.

Also a stemming ablation (TF-IDF baseline, every stemmer, same seeds), since that is the
comparison users ask for. Needs ``../shared/data/elsahar-multidomain``; skips cleanly without it.
Writes ``reports/bench/res_benchmark.json`` (rows merged by setting + model + train overrides with the
file's earlier rows, so ``RES_ARCHS=lstm,gru`` adds or refreshes just those, and a ``RES_TRAIN`` variant
gets rows of its own) and
``reports/bench/res_stemming_ablation.json``. Environment: ``RES_ARCHS``, ``RES_SEEDS``,
``RES_ABLATION=0`` (skip the ablation), ``RES_TRAIN="key=value,…"`` (train params for this run),
``RES_OUTPUT=<name>`` (write ``reports/bench/<name>.json`` instead, e.g. for a ``RES_TRAIN`` ablation).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

sys.path.insert(0, str(REPO))  # this checkout's pipeline, not another one installed in the venv
from pipeline.models.registry import ARCHITECTURES, is_neural, is_pretrained
from pipeline.training.run_record import RunRecord

DATA = REPO.parent / "shared" / "data" / "elsahar-multidomain"
SETTINGS = {
    "2class-balanced": ("Split_Balanced_2C", ("-1", "1")),
    "3class-balanced": ("Split_Balanced_3C", ("-1", "0", "1")),
    "2class-unbalanced": ("Split_unBalanced_2C", ("-1", "1")),
    "3class-unbalanced": ("Split_unBalanced_3C", ("-1", "0", "1")),
}
# RES_SETTINGS=2class-balanced,… narrows the run (the unbalanced ones keep every review of their classes)
SETTINGS = {k: v for k, v in SETTINGS.items() if k in os.environ.get("RES_SETTINGS", ",".join(SETTINGS)).split(",")}
SEEDS = [int(s) for s in os.environ.get("RES_SEEDS", "1,2,3").split(",")]
# Every neural and offline-pretrained architecture of the registry by default (the contract: a row per
# architecture); tfidf_linear is always scored below, with every stemmer, so it is never trained twice.
_DEFAULT = ",".join(a for a in ARCHITECTURES if is_neural(a) or ARCHITECTURES[a].option("offline_default"))
_CHOSEN = [a for a in os.environ.get("RES_ARCHS", _DEFAULT).split(",") if a]
FLOORS = ("tfidf_linear", "tfidf_char_word", "nbsvm")  # cheap: scored on every seed whatever RES_ARCHS says
ARCHS = [a for a in _CHOSEN if not is_pretrained(a) and a not in FLOORS]
FINETUNED = [a for a in _CHOSEN if is_pretrained(a)]
PRETRAIN_EPOCHS = int(os.environ.get("RES_PRETRAIN_EPOCHS", "3"))
FINETUNE_EPOCHS = int(os.environ.get("RES_FINETUNE_EPOCHS", "6"))
# RES_ABLATION=0 skips the stemming ablation (TF-IDF is then scored with the light stemmer only).
# The lemmatiser qalsadi joins when its optional extra is installed (make setup-lemmatise; make test does).
_LEMMATISER = ["qalsadi"] if importlib.util.find_spec("qalsadi") else []
STEMMERS = (
    ["none", "light", "isri", "snowball", "arlstem", "arlstem2", *_LEMMATISER]
    if os.environ.get("RES_ABLATION", "1") != "0"
    else ["light"]
)
# RES_TRAIN="key=value,…" overrides train params for this run (e.g. max_length=400,embedding_init=fasttext).
TRAIN_OVERRIDES = {
    k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in os.environ.get("RES_TRAIN", "").split(",") if kv)
}


# RES_OUTPUT names another file for an ablation run (its floors and selection stay out of the main table)
OUTPUT = os.environ.get("RES_OUTPUT", "res_benchmark")
# read once: editing params.yaml while a long run goes on must not change (or break) its later settings
PARAMS_YAML = (REPO / "params.yaml").read_text(encoding="utf-8")


def load_res() -> list[tuple[str, str]]:
    csv.field_size_limit(10**8)
    rows = []
    for name in ("RES1", "RES2"):
        with gzip.open(DATA / f"{name}.csv.gz", "rt", encoding="utf-8", newline="") as fh:
            rows += [(r["text"], str(int(float(r["polarity"])))) for r in csv.DictReader(fh) if r["text"].strip()]
    return rows


def sample(rows: list[tuple[str, str]], setting: str, classes: tuple[str, ...], seed: int) -> list[tuple[str, str]]:
    """The setting's documents: balanced (every class down-sampled to the smallest) or all of its classes."""
    if setting.endswith("-unbalanced"):
        return [(t, c) for t, c in rows if c in classes]
    return balanced(rows, classes, seed)


def balanced(rows: list[tuple[str, str]], classes: tuple[str, ...], seed: int) -> list[tuple[str, str]]:
    by_class = defaultdict(list)
    for text, pol in rows:
        if pol in classes:
            by_class[pol].append(text)
    n = min(len(by_class[c]) for c in classes)
    rng = random.Random(seed)
    return [(t, c) for c in classes for t in rng.sample(by_class[c], n)]


def paper_best(split: str) -> dict[str, Any]:
    with gzip.open(DATA / "all_experiments.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dname"] == "RES" and r["split"] == split]
    best = max(rows, key=lambda r: float(r["accuracy"]))
    return {
        "accuracy": round(float(best["accuracy"]), 4),
        "fscore": round(float(best["fscore"]), 4),
        "feature": best["feature"],
        "clf": best["clf"],
    }


def make_params(work: Path, seed: int, stemmer: str) -> Any:
    from pipeline.config import parse_params

    data = yaml.safe_load(PARAMS_YAML)
    data["base"].update(
        seed=seed,
        mlflow_tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
        raw_dir=str(work / "raw"),
        processed_dir=str(work / "processed"),
        models_dir=str(work / "models"),
        reports_dir=str(work / "reports"),
    )
    data["data"].update(
        source="file", path=str(work / "res.csv"), text_column="text", score_column=None, label_column="polarity"
    )
    data["preprocess"].update(stemmer=stemmer)
    data["preprocess"]["split"].update(test=0.2, val=0.1)
    # the training state in the work folder: two runs at once (an ablation beside the main run) never share it
    data["train"].update(
        max_epochs=12, patience=3, architectures=[*ARCHS, *FLOORS], state_dir=str(work / "train-state")
    )
    data["train"].update(TRAIN_OVERRIDES)
    trained = data["train"]["architectures"]  # a tuned architecture must be trained
    data["tune"]["architectures"] = [a for a in data["tune"]["architectures"] if a in trained]
    data["ensemble"].update(enabled=True, members=[])  # every trained classifier, combined on validation
    data["pretrain"].update(
        output_dir=str(work / "pretrained"),
        state_dir=str(work / "pretrain-state"),
        max_epochs=PRETRAIN_EPOCHS,
        patience=PRETRAIN_EPOCHS,
    )
    # Unlabelled text for the word2vec/fastText vectors (embeddings.corpus: all): every RES review, whatever
    # its polarity; the embeddings stage drops this run's test documents and their near-duplicates.
    data["pretrain"].update(vocab_size=8000, corpus_dir=str(work / "corpus"))
    data["finetune"].update(
        architectures=FINETUNED,
        checkpoints={a: str(work / "pretrained" / a) for a in FINETUNED},
        state_dir=str(work / "finetune-state"),
        max_epochs=FINETUNE_EPOCHS,
        patience=2,
    )
    return parse_params(data)


def write_rows(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "polarity"])
        writer.writerows(rows)


def pretrain_on_res(work: Path, res: list[tuple[str, str]], **overrides: Any) -> dict[str, Any]:
    """One BERT pre-trained on all RES text (plus the files of ``<work>/corpus``) minus the test documents of
    every setting and seed; ``overrides`` replace keys of the pretrain section (``max_minutes=…``)."""
    from pipeline.data.jsonl import write_jsonl
    from pipeline.data.preprocessing import preprocess
    from pipeline.data.split import read_split
    from pipeline.pretrained.pretraining import pretrain

    test_rows: dict[str, dict[str, Any]] = {}
    for setting, (_split, classes) in SETTINGS.items():
        for seed in SEEDS:
            write_rows(work / "res.csv", sample(res, setting, classes, seed))
            params = make_params(work, seed, "light")
            preprocess(params)
            for row in read_split(Path(params.base.processed_dir) / "test.jsonl"):
                test_rows[row["id"]] = {"id": row["id"], "text": row["text"]}
    write_rows(work / "res.csv", res)  # every RES review, any polarity
    params = make_params(work, SEEDS[0], "light")
    held_out = work / "held-out"  # the union of all test splits, read by the corpus filter as "the test split"
    write_jsonl(held_out / "test.jsonl", test_rows.values())
    params = params.model_copy(
        update={
            "base": params.base.model_copy(update={"processed_dir": str(held_out)}),
            "pretrain": params.pretrain.model_copy(update=overrides),
        }
    )
    record = pretrain(params).model_dump()
    print(
        f"  pretrained bert on {record['corpus']['documents']} reviews ({len(test_rows)} test documents of all "
        f"runs excluded): {record['train_time_s']:.0f} s, validation MLM perplexity {record['best_val_perplexity']}",
        flush=True,
    )
    return record


def merged(name: str, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """This run's rows plus the earlier rows of ``reports/bench/<name>.json`` it did not measure again,
    so a run over a few architectures (RES_ARCHS) adds to the table instead of replacing it."""
    from _common import OUT_DIR

    path = OUT_DIR / f"{name}.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []

    def key(row: dict[str, Any]) -> str:
        return json.dumps([row.get(k) for k in keys], sort_keys=True)

    fresh = {key(r) for r in rows}
    return [r for r in old if key(r) not in fresh] + rows


def floor_scores(params: Any, floors: tuple[str, ...] = FLOORS) -> dict[str, tuple[float, float, float]]:
    """Test accuracy, test macro-F1 and validation macro-F1 of each linear floor (C chosen on validation)."""
    from pipeline.data.jsonl import read_json
    from pipeline.data.split import split_tokens
    from pipeline.evaluation.metrics import classification_metrics
    from pipeline.models.baselines import make_floor

    (xtr, ytr, _), (xva, yva, _), (xte, yte, _) = (
        split_tokens(params.base.processed_dir, n) for n in ("train", "val", "test")
    )
    labels = read_json(Path(params.base.processed_dir) / "classes.json")["labels"]
    out = {}
    for arch in floors:
        model = make_floor(arch).fit(xtr, ytr, xva, yva)
        m = classification_metrics(yte, model.predict(xte), labels)
        out[arch] = (m["accuracy"], m["f1_macro"], float(model.val_f1_macro or 0.0))
    return out


def test_correctness(reports_dir: Path, arch: str) -> list[bool]:
    """Whether ``arch`` got each test document right, from the evaluate stage's (actual, predicted) pairs."""
    with (reports_dir / "plots" / "confusion" / f"{arch}.csv").open(encoding="utf-8", newline="") as fh:
        return [r["actual"] == r["predicted"] for r in csv.DictReader(fh)]


def vs_floor(model: str, floor: str, correct: dict[str, list[bool]]) -> dict[str, Any] | None:
    """McNemar's test of ``model`` against the chosen TF-IDF floor over the pooled test documents of every seed
    (``b``: only the model right, ``c``: only the floor right)."""
    from pipeline.evaluation.stats import mcnemar

    if model in (floor, "majority") or model not in correct:
        return None
    test = mcnemar(correct[model], correct[floor])
    better = test["b"] > test["c"]
    return {"floor": floor, "b": test["b"], "c": test["c"], "p_value": round(test["p_value"], 6), "better": better}


def t_interval(values: list[float], level: float = 0.95) -> list[float] | None:
    """Student-t interval of the mean over seeds (None for one seed)."""
    if len(values) < 2:
        return None
    from scipy import stats

    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    mean = statistics.fmean(values)
    return [round(mean - half, 4), round(mean + half, 4)]


def mean_std(values: list[float]) -> tuple[float, float]:
    return round(statistics.fmean(values), 4), round(statistics.stdev(values), 4) if len(values) > 1 else 0.0


def main() -> None:
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent (the RES benchmark needs ../shared/data)")
        return
    logging.disable(logging.WARNING)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from pipeline.data.preprocessing import preprocess
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.finetune import finetune
    from pipeline.stages.train import train
    from pipeline.training.ensemble import build_ensemble

    res = load_res()
    results: list[dict[str, Any]] = []
    ablation: list[dict[str, Any]] = []
    pretrain_record: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="bench-res-") as tmp:
        work = Path(tmp)
        from pipeline.data.jsonl import write_jsonl

        write_jsonl(work / "corpus" / "res.jsonl", ({"text": text} for text, _ in res))
        if FINETUNED:
            started = time.perf_counter()
            pretrain_record = pretrain_on_res(work, res)
            pretrain_s = time.perf_counter() - started
        for setting, (split, classes) in SETTINGS.items():
            paper = paper_best(split)
            scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"acc": [], "f1": [], "s": [], "val": []})
            stem_scores: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"acc": [], "f1": []})
            correct: dict[str, list[bool]] = defaultdict(list)  # per test document, every seed's in turn
            n_docs = 0
            for seed in SEEDS:
                rows = sample(res, setting, classes, seed)
                n_docs = len(rows)
                write_rows(work / "res.csv", rows)
                for stemmer in STEMMERS:
                    params = make_params(work, seed, stemmer)
                    preprocess(params)
                    if stemmer != "light":  # the ablation: the word TF-IDF floor only
                        acc, f1, _ = floor_scores(params, ("tfidf_linear",))["tfidf_linear"]
                        stem_scores[stemmer]["acc"].append(acc)
                        stem_scores[stemmer]["f1"].append(f1)
                        continue
                    if "embedding_init" in TRAIN_OVERRIDES and params.train.embedding_init != "random":
                        from pipeline.stages.embeddings import build

                        build(params)
                    for arch in params.train.architectures:  # the networks and the three floors
                        start = time.perf_counter()
                        train(params, arch)
                        scores[arch]["s"].append(time.perf_counter() - start)
                    for arch in FINETUNED:
                        start = time.perf_counter()
                        finetune(params, arch)
                        scores[arch]["s"].append(time.perf_counter() - start)
                    if params.ensemble.enabled:
                        start = time.perf_counter()
                        build_ensemble(params)
                        scores["ensemble"]["s"].append(time.perf_counter() - start)
                    for arch, m in evaluate(params).items():
                        scores[arch]["acc"].append(m["accuracy"])
                        scores[arch]["f1"].append(m["f1_macro"])
                        run = RunRecord.load(Path(params.base.models_dir) / arch)
                        scores[arch]["val"].append(float(run.best_val_f1_macro or 0.0))
                        correct[arch] += test_correctness(Path(params.base.reports_dir), arch)
                    # the majority-class baseline on the same test split (a constant: no validation score)
                    from pipeline.reporting.tables import majority_baseline

                    evaluated = Path(params.base.reports_dir) / "eval" / "tfidf_linear.json"
                    acc, f1 = majority_baseline(json.loads(evaluated.read_text(encoding="utf-8"))["confusion_matrix"])
                    scores["majority"]["acc"].append(round(acc, 4))
                    scores["majority"]["f1"].append(round(f1, 4))
                    stem_scores["light"]["acc"].append(scores["tfidf_linear"]["acc"][-1])
                    stem_scores["light"]["f1"].append(scores["tfidf_linear"]["f1"][-1])
                    print(
                        f"  {setting} seed {seed}: " + ", ".join(f"{k} {v['acc'][-1]:.3f}" for k, v in scores.items()),
                        flush=True,
                    )
            # the one model per setting chosen by mean VALIDATION macro-F1 (never by test)
            chosen = max(scores, key=lambda m: statistics.fmean(scores[m]["val"]) if scores[m]["val"] else -1.0)
            # the TF-IDF floor a user would pick (best validation macro-F1), and McNemar of every other model
            # against it on the pooled test documents of all seeds
            floor = max(FLOORS, key=lambda m: statistics.fmean(scores[m]["val"]))
            majority_acc = scores["majority"]["acc"]
            for model, s in scores.items():
                acc, acc_std = mean_std(s["acc"])
                f1, f1_std = mean_std(s["f1"])
                versus = {f: vs_floor(model, f, correct) for f in FLOORS if f != model}
                extra: dict[str, Any] = {}
                if model in FINETUNED and pretrain_record is not None:
                    extra = {
                        "pretrain_documents": pretrain_record["corpus"]["documents"],
                        "pretrain_epochs": pretrain_record["epochs_run"],
                        "pretrain_time_s": round(pretrain_s, 1),
                        "pretrain_val_perplexity": pretrain_record["best_val_perplexity"],
                        "parameters": pretrain_record["parameters"],
                    }
                results.append(
                    {
                        "dataset": "RES",
                        "setting": setting,
                        "model": model,
                        # the baseline reads no train params: its row is the same whatever RES_TRAIN says
                        "train_overrides": (TRAIN_OVERRIDES or None) if model not in (*FLOORS, "majority") else None,
                        "accuracy": acc,
                        "accuracy_std": acc_std,
                        "macro_f1": f1,
                        "macro_f1_std": f1_std,
                        "accuracy_ci95": t_interval(s["acc"]),
                        "val_macro_f1": mean_std(s["val"])[0] if s["val"] else None,
                        # above the majority class's accuracy on every seed's test split
                        "above_majority": all(a > b for a, b in zip(s["acc"], majority_acc, strict=True))
                        if model != "majority"
                        else None,
                        "mcnemar_vs_best_floor": versus.get(floor),
                        # and against each floor, for a reader who would pick the floor another way
                        "mcnemar_vs_floors": versus if model != "majority" else None,
                        "selected": model == chosen,
                        "seeds": SEEDS,
                        "documents": n_docs,
                        "train_time_s": round(statistics.fmean(s["s"]), 1) if s["s"] else None,
                        "paper_best_accuracy": paper["accuracy"],
                        "paper_best_fscore": paper["fscore"],
                        "paper_best_config": f"{paper['feature']} + {paper['clf']}",
                        **extra,
                    }
                )
            save(OUTPUT, merged(OUTPUT, results, ("setting", "model", "train_overrides")))
            for stemmer, s in stem_scores.items():
                acc, acc_std = mean_std(s["acc"])
                f1, _ = mean_std(s["f1"])
                ablation.append(
                    {
                        "dataset": "RES",
                        "setting": setting,
                        "model": "tfidf_linear",
                        "stemmer": stemmer,
                        "accuracy": acc,
                        "accuracy_std": acc_std,
                        "macro_f1": f1,
                        "seeds": SEEDS,
                    }
                )
    if len(STEMMERS) > 1:
        save("res_stemming_ablation", ablation)
    print("RES, 80/20 split, mean over seeds", SEEDS)
    table(
        [
            (
                f"{r['setting']:<16} {r['model']:<13}",
                f"acc {r['accuracy']:.3f}±{r['accuracy_std']:.3f}  macro-F1 {r['macro_f1']:.3f}   "
                f"paper best acc {r['paper_best_accuracy']:.3f} ({r['paper_best_config']})",
            )
            for r in results
        ]
    )
    print("stemming ablation (TF-IDF + logistic regression)")
    table(
        [
            (
                f"{r['setting']:<16} {r['stemmer']:<9}",
                f"acc {r['accuracy']:.3f}±{r['accuracy_std']:.3f}  macro-F1 {r['macro_f1']:.3f}",
            )
            for r in ablation
        ]
    )


if __name__ == "__main__":
    main()
