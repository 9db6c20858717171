"""The report's tables and sentences, formatted once from the saved evaluation, run and data files."""

from __future__ import annotations

from typing import Any

from pipeline.reporting.collect import Inputs
from pipeline.reporting.model import Table

RANK_HEADER = [
    "#",
    "architecture",
    "family",
    "test accuracy [{ci} CI]",
    "accuracy − majority class",
    "test macro-F1 [{ci} CI]",
    "macro-F1 over seeds (mean ± std)",
    "weighted F1",
    "ECE",
    "vs best (McNemar, Holm p)",
    "best val macro-F1",
    "parameters",
    "best/run epochs",
]
PROVENANCE_HEADER = ["architecture", "seed", "MLflow search for its training runs (the latest holds the test metrics)",
                     "other seeds", "evaluation file"]  # fmt: skip
PER_CLASS_HEADER = ["class", "precision", "recall", "F1", "average precision", "support"]


def num(value: Any, fmt: str) -> str:
    """``value`` formatted, or an en dash when missing."""
    return "–" if value is None else format(value, fmt)


def fmt(value: Any) -> str:
    """A value of a free-form record: floats to 4 significant digits, missing as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def percent(level: float) -> str:
    """An interval level as a percentage, e.g. ``0.95`` -> ``95%``."""
    return f"{100 * level:g}%"


def ci_percent(inputs: Inputs) -> str:
    """The evaluation's interval level as a percentage (``95%`` when no evaluation recorded one)."""
    levels = [ev["ci"]["level"] for ev in inputs.evals.values() if "ci" in ev]
    return percent(levels[0]) if levels else "95%"


def _ci(ev: dict[str, Any], key: str) -> str:
    ci = ev.get("ci", {}).get(key)
    return f"[{ci['low']:.3f}, {ci['high']:.3f}]" if ci else "–"


def _seeds(ev: dict[str, Any]) -> str:
    seeds = ev.get("seeds") or []
    if len(seeds) < 2:
        return "–"
    return f"{ev['seed_mean']['f1_macro']:.4f} ± {ev['seed_std']['f1_macro']:.4f} (n={len(seeds)})"


def _versus_best(ev: dict[str, Any], best: str | None) -> str:
    sig = ev.get("significance")
    if ev.get("arch") == best:
        return "best"
    if not sig:
        return "–"
    verdict = "worse" if sig["significant"] else "not different"
    return f"p={sig['p_holm']:.3f} ({verdict})"


def ranking_table(inputs: Inputs) -> Table:
    """One row per architecture, best test macro-F1 first."""
    rows = []
    best = (inputs.significance or {}).get("best")
    for rank, arch in enumerate(inputs.ranking, 1):
        m, run, ev = inputs.metrics[arch], inputs.runs[arch], inputs.evals[arch]
        majority = majority_baseline(ev["confusion_matrix"])[0] if ev.get("confusion_matrix") else None
        rows.append(
            [
                str(rank),
                arch,
                run.get("family", "recurrent"),
                f"{m['accuracy']:.4f} {_ci(ev, 'accuracy')}",
                f"{m['accuracy'] - majority:+.4f}" if majority is not None else "–",
                f"{m['f1_macro']:.4f} {_ci(ev, 'f1_macro')}",
                _seeds(ev),
                num(ev.get("f1_weighted"), ".4f"),
                num(ev.get("calibration", {}).get("ece"), ".4f"),
                _versus_best(ev, best),
                num(run.get("best_val_f1_macro"), ".4f"),
                f"{run['parameters']:,}" if run.get("parameters") is not None else "–",
                f"{run['best_epoch']}/{run['epochs_run']}" if run.get("curve") else "–",
            ]
        )
    if inputs.ranking:
        rows.append(majority_row(inputs.evals[inputs.ranking[0]], len(RANK_HEADER)))
    header = [h.format(ci=ci_percent(inputs)) for h in RANK_HEADER]
    return Table(header, rows, css_class="rank", highlight_first=True)


def majority_baseline(confusion: list[list[int]]) -> tuple[float, float]:
    """Test accuracy and macro-F1 of always predicting the test split's largest class (rows: true classes)."""
    support = [sum(row) for row in confusion]
    total = sum(support)
    if not total:
        return 0.0, 0.0
    share = max(support) / total
    return share, (2 * share / (1 + share)) / len(support)  # F1 of the largest class; 0 for every other


def majority_row(ev: dict[str, Any], width: int) -> list[str]:
    """The ranking's last row: the majority-class baseline every model must beat on accuracy."""
    accuracy, f1 = majority_baseline(ev["confusion_matrix"])
    row = ["–", "majority class (baseline)", "constant", f"{accuracy:.4f}", "–", f"{f1:.4f}"]
    return row + ["–"] * (width - len(row))


def significance_lines(inputs: Inputs) -> list[str]:
    """McNemar's verdicts against the best model, and how to read the intervals."""
    sig = inputs.significance
    if not sig:
        return []
    real = [a for a, c in sig["comparisons"].items() if c["significant"]]
    same = [a for a, c in sig["comparisons"].items() if not c["significant"]]
    test = next(iter(sig["comparisons"].values()), {}).get("method", "")
    return [
        f"Best on test macro-F1: {sig['best']}. McNemar's test against each other model on the same test "
        f"documents ({test or 'exact binomial or chi-square'}), p-values Holm-adjusted, alpha {sig['alpha']}.",
        f"Really worse than {sig['best']}: {', '.join(real) if real else 'none'}.",
        f"Not distinguishable from {sig['best']} on this test set: {', '.join(same) if same else 'none'}.",
        f"Intervals are {ci_percent(inputs)} percentile-bootstrap intervals over the test documents; with a small "
        "test split they are wide, so read differences inside them as noise.",
    ]


def cost_points(inputs: Inputs) -> list[dict[str, Any]]:
    """Per architecture: test macro-F1, parameters, whether it is a baseline."""
    return [
        {
            "arch": a,
            "f1_macro": inputs.metrics[a]["f1_macro"],
            "parameters": inputs.runs[a].get("parameters"),
            "baseline": inputs.runs[a].get("family") == "baseline",
        }
        for a in inputs.ranking
    ]


def data_table(summary: dict[str, Any]) -> Table:
    """Documents, class counts, tokens and OOV rate per split."""
    labels = [c["label"] for c in summary["classes"]]
    header = ["split", "documents", *labels, "tokens", "median tokens/doc", "OOV rate"]
    rows = [
        [
            name,
            str(s["documents"]),
            *(str(s["class_counts"][lab]) for lab in labels),
            str(s["tokens"]),
            f"{s['tokens_per_doc']['median']:g}",
            f"{s['oov_rate']:.2%}",
        ]
        for name, s in summary["splits"].items()
    ]
    return Table(header, rows)


def classes_table(summary: dict[str, Any]) -> Table:
    """Each class and the scores that map to it (or that the source gave the label)."""
    rows = []
    for c in summary["classes"]:
        if "min_score" not in c:  # categorical labels from the source
            rows.append([str(c["id"]), c["label"], "label given by the source"])
            continue
        upper = "≤" if c["max_inclusive"] else "<"
        rows.append([str(c["id"]), c["label"], f"{c['min_score']:g} ≤ score {upper} {c['max_score']:g}"])
    return Table(["id", "label", "scores"], rows)


def quality_lines(summary: dict[str, Any]) -> list[str]:
    """Where the data came from and what was dropped or grouped."""
    source = summary.get("source", {})
    near = summary.get("near_duplicates", {})
    return [
        f"Source: {', '.join(f'{k}={v}' for k, v in source.items() if v is not None)}.",
        f"Dropped while preprocessing: {summary['dropped'] or 'none'}.",
        f"Near-duplicate groups kept within one split: {near.get('groups', 0)} "
        f"({near.get('documents_grouped', 0)} documents).",
        f"Class map: {summary.get('class_map', {}).get('method', 'fixed')}; stemmer: {summary.get('stemmer', '?')}.",
        *check_lines(summary),
    ]


def check_lines(summary: dict[str, Any]) -> list[str]:
    """The data checks preprocess ran (all passed, or the run would have stopped), the class shares and their
    drift from those of the champion's corpus."""
    checks = (summary.get("checks") or {}).get("checks") or {}
    if not checks:
        return []
    figures = ", ".join(f"{name} {c['value']} (limit {c['limit']})" for name, c in checks.items()
                        if name != "max_label_drift" and not isinstance(c["value"], dict))  # fmt: skip
    drift = checks.get("max_label_drift", {})
    shares = summary.get("label_distribution", {})
    return [
        f"Data checks {'passed' if summary['checks'].get('passed') else 'FAILED'}: {figures}.",
        f"Class shares {shares}; label drift: {drift.get('message', 'not measured')}.",
    ]


def params_table(inputs: Inputs) -> Table:
    """The params the best model was trained with, as recorded in its run record."""
    rows = [[k, str(v)] for k, v in inputs.runs[inputs.ranking[0]].get("params", {}).items()]
    return Table(["key", "value"], rows)


def provenance_table(inputs: Inputs) -> Table:
    """Per model: how to find its MLflow training runs (the primary seed's, whose run also holds the test
    metrics, and the other seeds'); their ids, commit and times are facts of a run, kept out of this report."""
    rows = []
    for arch in inputs.ranking:
        run, ev = inputs.runs[arch], inputs.evals[arch]
        stage = run.get("stage", "train")
        others = ", ".join(str(s["seed"]) for s in (ev.get("seeds") or [])[1:])
        rows.append(
            [
                arch,
                str(run.get("seed", "–")),
                f"tags.stage = '{stage}' and tags.arch = '{arch}'",
                others or "–",
                f"eval/{arch}.json",
            ]
        )
    return Table(PROVENANCE_HEADER, rows)


def confusion_table(ev: dict[str, Any]) -> Table:
    labels = ev["labels"]
    rows = [[labels[i], *(str(v) for v in row)] for i, row in enumerate(ev["confusion_matrix"])]
    return Table(["true \\ predicted", *labels], rows)


def per_class_table(ev: dict[str, Any]) -> Table:
    ap = {lab: (ev.get("pr_curves") or {}).get(lab, {}).get("average_precision") for lab in ev["per_class"]}
    rows = [
        [lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", num(ap[lab], ".3f"), str(v["support"])]
        for lab, v in ev["per_class"].items()
    ]
    return Table(PER_CLASS_HEADER, rows)


def generation_table(gen: dict[str, Any]) -> Table:
    """Language-model metrics, one row per (dataset, model)."""
    rows = gen.get("rows") or []
    preferred = ["dataset", "model", "perplexity", "bleu", "chrf", "distinct_2", "parameters"]
    keys = [k for k in preferred if any(k in r for r in rows)]
    return Table(keys, [[fmt(r.get(k)) for k in keys] for r in rows])


def decoding(d: Any) -> str:
    """A sample's decoding settings in words."""
    if isinstance(d, dict):
        return str(d.get("name") or ", ".join(f"{k}={v}" for k, v in d.items()))
    return str(d)


def agreement_line(gen: dict[str, Any]) -> str | None:
    ca = gen.get("class_agreement")
    if not ca:
        return None
    return (
        f"Class agreement of generated reviews (does {ca.get('classifier', 'the classifier')} give the prompted "
        f"class?): {ca.get('rate')} over {ca.get('n')} samples ({ca.get('model', '')}), chance {ca.get('chance')}."
    )
