"""The report's charts as PNG bytes (matplotlib, Agg). Every string drawn passes through
:func:`~pipeline.reporting.arabic.chart_text` (``ar`` here): Arabic joined and right to left, no missing-glyph
boxes. Every chart function returns ``None`` when it has nothing to draw.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from pipeline.reporting.arabic import FONT
from pipeline.reporting.arabic import chart_text as ar


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = FONT
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    _plt().close(fig)
    return buf.getvalue()


def pareto_front(points: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Points (cost, score, name) that no other point beats on both (lower cost, higher score), by cost."""
    front = []
    for c, s, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or s > front[-1][1]:
            front.append((c, s, name))
    return front


def cost_chart(rows: Sequence[dict[str, Any]]) -> bytes | None:
    """Test macro-F1 against parameters, Pareto front joined (latency is a measurement of the machine, so it is
    in the benchmarks, not in the report, which must be the same bytes on every run).

    ``rows``: ``{"arch", "f1_macro", "parameters", "baseline"}``."""
    rows = [r for r in rows if r.get("parameters")]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(1, 1, figsize=(6, 3.8), dpi=100)
    for key, label in (("parameters", "parameters (log scale)"),):
        points = []
        for i, r in enumerate(rows):
            x = r.get(key)
            if not x:
                continue
            points.append((x, r["f1_macro"], r["arch"]))
            ax.scatter([x], [r["f1_macro"]], marker="s" if r.get("baseline") else "o", s=40, color=f"C{i % 10}")
            ax.annotate(ar(r["arch"]), (x, r["f1_macro"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = pareto_front(points)
        ax.scatter([p[0] for p in front], [p[1] for p in front], s=110, facecolors="none", edgecolors="black", lw=1)
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="grey", ls="--", lw=1)
        if front:
            ax.scatter([], [], s=110, facecolors="none", edgecolors="black", lw=1, label="Pareto front")
            ax.legend(fontsize=8, loc="best")
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("test macro-F1")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def curves_chart(curves: dict[str, list[dict[str, Any]]]) -> bytes | None:
    """Validation macro-F1 per epoch, every architecture on one chart."""
    curves = {a: [r for r in c if "val/f1_macro" in r] for a, c in curves.items()}
    curves = {a: c for a, c in curves.items() if c}
    if not curves:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    for arch, curve in curves.items():
        ax.plot([r["epoch"] for r in curve], [r["val/f1_macro"] for r in curve], marker="o", ms=3, label=ar(arch))
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation macro-F1")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def loss_chart(curves: dict[str, list[dict[str, Any]]]) -> bytes | None:
    """Training and validation loss per epoch, one panel per architecture (those trained by epochs)."""
    curves = {a: [r for r in c if "train/loss" in r or "val/loss" in r] for a, c in curves.items()}
    curves = {a: c for a, c in curves.items() if c}
    if not curves:
        return None
    fig, axes = _panels(len(curves), 3.6, 2.9)
    for ax, (arch, curve) in zip(axes, curves.items(), strict=True):
        for key, label, style in (("train/loss", "train", "-"), ("val/loss", "validation", "--")):
            rows = [r for r in curve if key in r]
            if rows:
                ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], ls=style, marker="o", ms=3, label=label)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("cross-entropy loss", fontsize=8)
        ax.set_title(ar(arch), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _panels(n: int, width: float, height: float, per_row: int = 4) -> tuple[Any, list[Any]]:
    """A figure with ``n`` panels, ``per_row`` to a row (the unused cells blanked); its first ``n`` axes."""
    cols = min(per_row, n)
    rows = (n + cols - 1) // cols
    fig, axes = _plt().subplots(rows, cols, figsize=(width * cols, height * rows), dpi=100, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def confusion_chart(evals: dict[str, dict[str, Any]]) -> bytes | None:
    """One confusion-matrix heat map per architecture (rows = true class), counts written in."""
    if not evals:
        return None
    fig, axes = _panels(len(evals), 3.6, 3.3)
    for ax, (arch, ev) in zip(axes, evals.items(), strict=True):
        cm = ev["confusion_matrix"]
        labels = [ar(lab) for lab in ev["labels"]]
        top = max(max(r) for r in cm) or 1
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=top)
        for i, row in enumerate(cm):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=9, color="white" if v > top / 2 else "black")
        ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=30)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        ax.set_title(ar(arch), fontsize=10)
    fig.tight_layout()
    return _png(fig)


def pr_chart(evals: dict[str, dict[str, Any]]) -> bytes | None:
    """Per architecture, the one-vs-rest precision-recall curve of each class (average precision in the legend)."""
    evals = {a: e for a, e in evals.items() if e.get("pr_curves")}
    if not evals:
        return None
    fig, axes = _panels(len(evals), 3.6, 3.2)
    for ax, (arch, ev) in zip(axes, evals.items(), strict=True):
        for k, (label, c) in enumerate(ev["pr_curves"].items()):
            if c["recall"]:
                ap = c["average_precision"]
                ax.step(c["recall"], c["precision"], where="post", color=f"C{k}", label=ar(f"{label} (AP {ap:.2f})"))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("recall", fontsize=8)
        ax.set_ylabel("precision", fontsize=8)
        ax.set_title(ar(arch), fontsize=10)
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def reliability_chart(evals: dict[str, dict[str, Any]]) -> bytes | None:
    """Accuracy against mean confidence per confidence bin, every architecture (ECE in the legend)."""
    evals = {a: e for a, e in evals.items() if e.get("calibration")}
    if not evals:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="perfectly calibrated")
    for arch, ev in evals.items():
        bins = [b for b in ev["calibration"]["bins"] if b["count"]]
        ax.plot(
            [b["confidence"] for b in bins],
            [b["accuracy"] for b in bins],
            marker="o",
            ms=3,
            label=ar(f"{arch} (ECE {ev['calibration']['ece']:.3f})"),
        )
    ax.set_xlabel("mean confidence (bin)")
    ax.set_ylabel("accuracy (bin)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def tuning_chart(study: dict[str, Any]) -> bytes | None:
    """A tuning study: value per trial (pruned and failed marked), best-so-far line; importances beside."""
    trials = sorted(study.get("trials", []), key=lambda t: t["number"])
    if not trials:
        return None
    plt = _plt()
    importances = study.get("importances") or {}
    fig, axes = plt.subplots(1, 2 if importances else 1, figsize=(10 if importances else 6, 3.4), dpi=100)
    ax = axes[0] if importances else axes
    maximize = study.get("direction", "maximize") == "maximize"
    best, xs, ys = None, [], []
    for state, color, marker in (("COMPLETE", "C0", "o"), ("PRUNED", "C1", "x"), ("FAIL", "C3", "v")):
        pts = [(t["number"], t["value"]) for t in trials if t.get("state") == state and t.get("value") is not None]
        if not pts and state != "PRUNED":
            continue
        if state == "PRUNED":  # a pruned trial: its last intermediate value
            pts = []
            for t in trials:
                if t.get("state") == "PRUNED" and t.get("intermediate"):
                    last = max(t["intermediate"], key=lambda e: int(e))
                    pts.append((t["number"], t["intermediate"][last]))
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=color, marker=marker, s=25, label=state.lower())
    for t in trials:
        value = t.get("value") if t.get("state") == "COMPLETE" else None
        if value is not None and (best is None or (value > best if maximize else value < best)):
            best = value
        if best is not None:
            xs.append(t["number"])
            ys.append(best)
    if xs:
        ax.step(xs, ys, where="post", color="C2", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(study.get("metric", "objective"))
    ax.set_title(ar(f"{study.get('arch', '')}: {study.get('n_trials', len(trials))} trials"), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if importances:
        names = sorted(importances, key=importances.get)
        axes[1].barh([ar(n) for n in names], [importances[n] for n in names], color="C4")
        axes[1].set_xlabel("parameter importance")
        axes[1].tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    return _png(fig)


def token_color(score: float, scale: float, signed: bool) -> tuple[float, float, float, float]:
    """RGBA of a token's score relative to ``scale``: green/red for signed attributions, orange for attention."""
    v = max(-1.0, min(1.0, score / scale)) if scale else 0.0
    if signed:  # green pushes towards the prediction, red against
        return (0.1, 0.6, 0.2, abs(v) * 0.8) if v >= 0 else (0.85, 0.15, 0.15, abs(v) * 0.8)
    return (1.0, 0.55, 0.0, max(0.0, v) * 0.85)


def tokens_chart(explanations: Sequence[dict[str, Any]], title: str, max_tokens: int = 60) -> bytes | None:
    """Each explained document as a line of tokens written right to left, each on its score's colour
    (attention: orange intensity; attributions: green for, red against the predicted class)."""
    if not explanations:
        return None
    from matplotlib.textpath import TextPath

    plt = _plt()
    size, gap, width_pt, line_h = 11, 6.0, 820.0, 22.0
    layouts = []
    for e in explanations:
        tokens, scores = e["tokens"][:max_tokens], e["scores"][:max_tokens]
        signed = e.get("method") not in ("attention", "attention_rollout")
        scale = max((abs(s) for s in scores), default=0.0)
        lines, line, x = [], [], width_pt
        for tok, s in zip(tokens, scores, strict=True):
            shaped = ar(tok)
            w = TextPath((0, 0), shaped, size=size, prop={"family": FONT}).get_extents().width + 6
            if line and x - w < 0:
                lines.append(line)
                line, x = [], width_pt
            line.append((x, shaped, token_color(s, scale, signed)))
            x -= w + gap
        lines.append(line)
        layouts.append((e, lines))
    total_lines = sum(len(lines) + 1.6 for _, lines in layouts)
    height_pt = total_lines * line_h + 30
    fig = plt.figure(figsize=(width_pt / 72 + 0.4, height_pt / 72), dpi=100)
    ax = fig.add_axes((0.01, 0.0, 0.98, 1.0))
    ax.set_xlim(-10, width_pt + 10)
    ax.set_ylim(height_pt, 0)
    ax.axis("off")
    ax.text(width_pt / 2, 14, ar(title), ha="center", va="center", fontsize=11)
    y = 30 + line_h / 2
    for e, lines in layouts:
        probs = e.get("probabilities")
        conf = f", p={max(probs):.2f}" if probs else ""
        header = ar(f"true {e['true']}, predicted {e['pred']}{conf} ({e['method'].replace('_', ' ')})")
        ax.text(width_pt, y, header, ha="right", va="center", fontsize=8, color="#444")
        y += line_h * 0.9
        for line in lines:
            for x, shaped, color in line:
                ax.text(
                    x,
                    y,
                    shaped,
                    ha="right",
                    va="center",
                    fontsize=size,
                    bbox={"boxstyle": "round,pad=0.2", "fc": color, "ec": "none"},
                )
            y += line_h
        y += line_h * 0.7
    return _png(fig)
