"""The report's figures, drawn once: written to ``<reports_dir>/figures/<name>.png`` (Markdown links them) and
kept as data URIs (the HTML embeds them, so it stays one self-contained file)."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path

from pipeline.reporting import figures
from pipeline.reporting.collect import Inputs
from pipeline.reporting.model import Figure
from pipeline.reporting.tables import cost_points


class FigureSet:
    """PNG charts by name; a chart with nothing to draw is left out."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self.folder = folder
        self.figures: dict[str, Figure] = {}

    def add(self, name: str, alt: str, make: Callable[[], bytes | None]) -> None:
        png = make()
        if png is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f"{name}.png").write_bytes(png)
        self.figures[name] = Figure(name, alt, "data:image/png;base64," + base64.b64encode(png).decode())

    def get(self, name: str) -> Figure | None:
        return self.figures.get(name)


def draw_figures(inputs: Inputs, folder: Path) -> FigureSet:
    """Every chart of the report, written to ``folder`` (emptied first)."""
    figs = FigureSet(folder)
    ranking = inputs.ranking
    evals = {a: inputs.evals[a] for a in ranking}
    figs.add(
        "cost",
        "test macro-F1 against parameters, Pareto front",
        lambda: figures.cost_chart(cost_points(inputs)),
    )
    figs.add(
        "curves",
        "validation macro-F1 per epoch",
        lambda: figures.curves_chart({a: inputs.runs[a].get("curve", []) for a in ranking}),
    )
    figs.add(
        "loss",
        "training and validation loss per epoch, per architecture",
        lambda: figures.loss_chart({a: inputs.runs[a].get("curve", []) for a in ranking}),
    )
    figs.add("confusion", "confusion matrices", lambda: figures.confusion_chart(evals))
    figs.add("pr", "precision-recall curves", lambda: figures.pr_chart(evals))
    figs.add("calibration", "reliability diagram", lambda: figures.reliability_chart(evals))
    for arch, ev in evals.items():
        if ev.get("explanations"):
            title = f"{ev['arch']}: {ev['explanations'][0]['method'].replace('_', ' ')}"
            figs.add(
                f"explain-{arch}",
                f"token scores, {arch}",
                lambda ev=ev, title=title: figures.tokens_chart(ev["explanations"], title),
            )
    for arch, study in inputs.tuning.items():
        figs.add(f"tuning-{arch}", f"tuning history, {arch}", lambda s=study: figures.tuning_chart(s))
    return figs
