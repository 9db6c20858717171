"""Every section of the report computed once, as plain data (:class:`pipeline.reporting.model.Report`)."""

from __future__ import annotations

from typing import Any

from pipeline.reporting import tables
from pipeline.reporting.collect import Inputs
from pipeline.reporting.figures import token_color
from pipeline.reporting.figureset import FigureSet
from pipeline.reporting.model import (
    Document,
    Explanation,
    Generation,
    Line,
    ModelDetail,
    ModelErrors,
    ModelExplanations,
    Report,
    Sample,
    Span,
    Study,
    Table,
    Token,
    line,
)


def _document(d: dict[str, Any]) -> Document:
    return Document(text=str(d["text"]), true=d["true"], pred=d["pred"], confidence=f"{d['confidence']:.2f}")


def intro(inputs: Inputs) -> Line:
    s, run0 = inputs.summary, inputs.runs[inputs.ranking[0]]
    return line(
        f"Seed {run0.get('seed')}. {s['documents']} documents, vocabulary {s['vocab_size']} (train split only). "
        "The code, params and data behind every figure are the ones ",
        Span("dvc.lock", "code"),
        " records; the runs' commit, times and ids are in MLflow (see Provenance).",
    )


def ensemble_lines(inputs: Inputs) -> list[str]:
    """The ensemble's members and weights, and the cross-validated validation scores that chose its method."""
    ens = (inputs.runs.get("ensemble") or {}).get("ensemble")
    if not ens:
        return []
    if ens["method"] == "stacked":
        how = "a logistic regression over the log-probabilities of " + ", ".join(ens["members"])
    else:
        how = (
            ens["method"]
            + " of "
            + ", ".join(f"{m} ({w:.2f})" for m, w in zip(ens["members"], ens["weights"], strict=True))
        )
    tried = ", ".join(f"{m} {v:.4f}" for m, v in ens["cv_val_f1_macro"].items())
    return [
        f"ensemble: {how}, fitted on the validation split only",
        f"its method was chosen by {ens['folds']}-fold cross-validated validation macro-F1 ({tried})",
    ]


def registry_lines(reg: dict[str, Any] | None) -> list[Line]:
    """What the register stage put in the MLflow model registry and how to load it."""
    if not reg:
        return []
    metrics = reg.get("metrics", {})
    lines = [
        line(
            Span(reg["arch"], "code"),
            " is registered in the MLflow model registry as ",
            Span(reg["name"], "bold"),
            f" version {reg['version']}, chosen by {reg['selected_by']} macro-F1.",
        ),
        *gate_lines(reg),
        line(
            "Load it with ",
            Span(f'mlflow.pyfunc.load_model("{reg["uri"]}")', "code"),
            " and call ",
            Span(".predict()", "code"),
            " on a DataFrame with a ",
            Span("text", "code"),
            " column of raw Arabic text.",
        ),
        line(f"Its test macro-F1 {metrics.get('test/f1_macro', float('nan')):.4f}."),
    ]
    return lines


def gate_lines(reg: dict[str, Any]) -> list[Line]:
    """The champion/challenger gate: the decision, the two versions, the reason (registry.json from before the
    gate has none)."""
    if "decision" not in reg:
        return [line("Alias ", Span(f"@{reg['alias']}", "code"), f" points to version {reg['version']}.")]
    champion = reg.get("champion_version") or "none"
    after = reg.get("alias_version") or "none"
    out = [
        line(
            "Champion/challenger gate: ",
            Span(reg["decision"], "bold"),
            f" (challenger version {reg['challenger_version']}, champion before: {champion}; ",
            Span(f"@{reg['alias']}", "code"),
            f" now points to version {after}).",
        ),
        line(f"Reason: {reg['reason']}."),
    ]
    comparison = (reg.get("figures") or {}).get("comparison") or {}
    if "verdict" in comparison:
        out.append(
            line(
                f"On the same {comparison['documents']} test documents: challenger macro-F1 "
                f"{comparison['challenger_f1_macro']:.4f}, champion {comparison['champion_f1_macro']:.4f}; McNemar "
                f"({comparison['method']}) p = {comparison['p_value']:.4g}, verdict {comparison['verdict']}."
            )
        )
    return out


def details(inputs: Inputs) -> list[ModelDetail]:
    """Per architecture: per-class results, the confusion matrix, a few test examples."""
    return [
        ModelDetail(
            arch=arch,
            per_class=tables.per_class_table(ev),
            confusion=tables.confusion_table(ev),
            examples=[_document(e) for e in ev.get("examples") or []],
        )
        for arch, ev in ((a, inputs.evals[a]) for a in inputs.ranking)
    ]


def errors(inputs: Inputs) -> list[ModelErrors]:
    """Per architecture with any, its most confidently wrong test documents."""
    out = []
    for arch in inputs.ranking:
        found = [e for errs in (inputs.evals[arch].get("confident_errors") or {}).values() for e in errs]
        if found:
            out.append(ModelErrors(arch, [_document(e) for e in found], is_best=arch == inputs.ranking[0]))
    return out


def _tokens(exp: dict[str, Any]) -> list[Token]:
    """An explanation's tokens with their score's colour (attention: orange; attributions: green for, red against)."""
    scores = exp["scores"]
    signed = exp.get("method") not in ("attention", "attention_rollout")
    scale = max((abs(s) for s in scores), default=0.0)
    out = []
    for tok, s in zip(exp["tokens"], scores, strict=True):
        r, g, b, a = token_color(s, scale, signed)
        out.append(Token(tok, f"rgba({int(r * 255)},{int(g * 255)},{int(b * 255)},{a:.2f})", f"{s:.4f}"))
    return out


def explanations(inputs: Inputs, figs: FigureSet) -> list[ModelExplanations]:
    """Token explanations of the same test documents for every model that can explain."""
    return [
        ModelExplanations(
            arch=arch,
            explanations=[
                Explanation(e["true"], e["pred"], e["method"].replace("_", " "), _tokens(e))
                for e in inputs.evals[arch]["explanations"]
            ],
            figure=figs.get(f"explain-{arch}"),
        )
        for arch in inputs.ranking
        if inputs.evals[arch].get("explanations")
    ]


def studies(inputs: Inputs, figs: FigureSet) -> list[Study]:
    """Each tuning study: trials, best value and params, the MLflow parent run."""
    out = []
    for arch, study in inputs.tuning.items():
        best = study.get("best") or {}
        summary = line(
            "Study ",
            Span(str(study.get("study_name")), "code"),
            f": {study.get('n_trials')} trials {study.get('states', {})}, best value {tables.fmt(best.get('value'))} "
            f"(trial {best.get('number')}); in MLflow, its trials are the runs with ",
            Span(f"tags.study_name = '{study.get('study_name')}'", "code"),
            ".",
        )
        params = Table(["param", "best value"], [[k, tables.fmt(v)] for k, v in (best.get("params") or {}).items()])
        out.append(Study(arch, summary, figs.get(f"tuning-{arch}"), params))
    return out


def generation(inputs: Inputs) -> Generation | None:
    """Language-model metrics, class agreement and samples, when the generation stages ran."""
    gen, samples = inputs.generation, inputs.samples
    if not gen and not samples:
        return None
    return Generation(
        metrics=tables.generation_table(gen) if gen else None,
        agreement=tables.agreement_line(gen) if gen else None,
        samples=[
            Sample(str(x.get("model")), str(x.get("topic")), tables.decoding(x.get("decoding")), str(x.get("text")))
            for x in samples or []
        ],
    )


def export_table(rows: list[dict[str, Any]] | None, bench: list[dict[str, Any]] | None = None) -> Table | None:
    """The export stage's runtimes per architecture: test macro-F1, the share of test documents given PyTorch
    fp32's class, and size (the stage's, reproducible), and p50 latency at batch 1 and 32 from ``bench``
    (``reports/bench/export.json``, written by bench/bench_export.py on an idle machine: a measurement, not a
    pipeline output), where it has the same architecture and runtime."""
    if not rows:
        return None
    timed = {(b.get("arch"), b.get("runtime")): b for b in bench or []}
    header = [
        "architecture", "runtime", "test macro-F1", "same class as fp32", "size MB", "p50 ms, batch 1 †",
        "p50 ms, batch 32 †",
    ]  # fmt: skip
    out = []
    for r in rows:
        t = timed.get((r.get("arch"), r.get("runtime")), {})
        cells = (r.get("macro_f1"), r.get("same_as_fp32"), r.get("size_mb"), t.get("p50_ms_b1"), t.get("p50_ms_b32"))
        out.append([str(r.get("arch")), str(r.get("runtime")), *(tables.fmt(c) for c in cells)])
    return Table(header, out)


def build(inputs: Inputs, figs: FigureSet, title: str) -> Report:
    """The whole report from the saved files and the drawn figures."""
    return Report(
        title=title,
        intro=intro(inputs),
        ranking=tables.ranking_table(inputs),
        significance=tables.significance_lines(inputs),
        ensemble=ensemble_lines(inputs),
        registry=registry_lines(inputs.registry),
        cost_figure=figs.get("cost"),
        curves_figure=figs.get("curves"),
        loss_figure=figs.get("loss"),
        data=tables.data_table(inputs.summary),
        classes=tables.classes_table(inputs.summary),
        quality=tables.quality_lines(inputs.summary),
        confusion_figure=figs.get("confusion"),
        pr_figure=figs.get("pr"),
        calibration_figure=figs.get("calibration"),
        details=details(inputs),
        errors=errors(inputs),
        explanations=explanations(inputs, figs),
        tuning=studies(inputs, figs),
        generation=generation(inputs),
        provenance=tables.provenance_table(inputs),
        params=tables.params_table(inputs),
        export=export_table(inputs.export, inputs.export_timed),
    )
