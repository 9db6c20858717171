"""Stage **evaluate**: test-set metrics, uncertainty, error analysis and explanations for every classifier.

Loads each ``<models_dir>/<arch>/`` with :func:`pipeline.serving.predict.load_predictor` (networks: the best
validation checkpoint; ``tfidf_linear``: ``model.joblib``; other families through their loader),
predicts the test split and writes ``<reports_dir>/eval/<arch>.json``:

- accuracy, macro-F1, weighted-F1, per-class precision/recall/F1, the confusion matrix;
- percentile-bootstrap intervals for accuracy and macro-F1 at ``evaluate.confidence_level`` (``ci``; scipy),
  seeded with ``base.seed``;
- calibration (expected calibration error, torchmetrics, and the reliability bins), per-class PR curves;
- every seed's model (``models/<arch>/seeds/<seed>/``, see ``train.seeds``): ``seeds``, ``seed_mean``,
  ``seed_std`` (the primary model is the one all other figures describe);
- McNemar's test of the best model (test macro-F1) against this one (``significance``);
- the most confidently wrong test documents per true class, a few test examples and, for predictors
  with ``explain``, token explanations of the same few chosen documents for every model.

Also ``<reports_dir>/eval/significance.json`` (all comparisons, Holm-adjusted), DVC plot data under
``<reports_dir>/plots/`` (curves, confusion pairs, PR curves) and the headline
``<reports_dir>/metrics.json``. Test metrics go to each model's MLflow training run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import cli, runlog
from pipeline.config import Params, load_params
from pipeline.data.jsonl import DataError, read_json, write_json
from pipeline.data.split import read_split
from pipeline.evaluation.classifier import evaluate_classifier
from pipeline.evaluation.errors import choose_documents
from pipeline.evaluation.metrics import significance
from pipeline.evaluation.mlflow_log import log_test_metrics
from pipeline.evaluation.plots import write_plot_data, write_pr_plot_data

RUN_FACTS = frozenset({"mlflow_run_id", "git_commit"})


def evaluate(params: Params) -> dict[str, dict[str, float]]:
    base, ep = params.base, params.evaluate
    labels = read_json(Path(base.processed_dir) / "classes.json")["labels"]
    reports = Path(base.reports_dir)
    rows = read_split(Path(base.processed_dir) / "test.jsonl")
    if not rows:
        raise DataError(f"{Path(base.processed_dir) / 'test.jsonl'}: the test split is empty")
    y_true = [int(r["label"]) for r in rows]
    chosen = choose_documents(rows, ep.explain_documents)
    results: dict[str, dict[str, Any]] = {}
    correct: dict[str, list[bool]] = {}

    for arch in params.classifiers:
        model_dir = Path(base.models_dir) / arch
        if not (model_dir / "run.json").is_file():
            raise DataError(f"{model_dir / 'run.json'}: no trained model (run `dvc repro train@{arch}` first)")
        result, run, y_pred = evaluate_classifier(params, arch, model_dir, rows, labels, chosen)
        results[arch], correct[arch] = result, [t == p for t, p in zip(y_true, y_pred, strict=True)]
        write_plot_data(reports / "plots", arch, run, [labels[t] for t in y_true], [labels[p] for p in y_pred])
        write_pr_plot_data(reports / "plots", arch, result["pr_curves"])

    sig = significance(results, correct, ep)
    write_json(reports / "eval" / "significance.json", sig)
    for arch, result in results.items():
        result["significance"] = sig["comparisons"].get(arch)
        write_result(reports / "eval" / f"{arch}.json", result)
    log_test_metrics(params, results)
    headline = {a: {"accuracy": r["accuracy"], "f1_macro": r["f1_macro"]} for a, r in results.items()}
    write_json(reports / "metrics.json", headline)
    return headline


def write_result(path: Path, result: dict[str, Any]) -> None:
    """``result`` into ``path``, its MLflow run ids and commit (facts of the training runs, not results) into the
    run log (:mod:`pipeline.runlog`), so the file is the same bytes for the same models."""
    seeds = result.get("seeds", [])
    data = {
        **result,
        "seeds": [{k: v for k, v in s.items() if k != "mlflow_run_id"} for s in seeds],
        "seed_mlflow_run_ids": [s.get("mlflow_run_id") for s in seeds],
    }
    runlog.write_json_apart(path, data, RUN_FACTS | {"seed_mlflow_run_ids"})


def main() -> None:
    cli.parser(__doc__).parse_args()
    evaluate(load_params())


if __name__ == "__main__":
    cli.run(main)
