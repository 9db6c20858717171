"""The report as plain data: every section computed once, rendered to Markdown and HTML by the templates.

Strings here are raw (unescaped) text; escaping is the renderers' job. A :class:`Span` marks a piece of a
sentence as ``code`` or ``bold`` so both formats can show it their way.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A piece of a sentence; ``style``: ``""`` (plain), ``"code"`` or ``"bold"``."""

    text: str
    style: str = ""


Line = list[Span]


def line(*parts: str | Span) -> Line:
    """A sentence from plain strings and spans."""
    return [p if isinstance(p, Span) else Span(p) for p in parts]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    css_class: str = ""
    highlight_first: bool = False  # HTML: the first row is the best model


@dataclass(frozen=True)
class Figure:
    """A PNG drawn once: ``figures/<name>.png`` for Markdown, a data URI in the self-contained HTML."""

    name: str
    alt: str
    data_uri: str

    @property
    def path(self) -> str:
        return f"figures/{self.name}.png"


@dataclass
class Document:
    """A scraped (or generated) text with what was predicted for it."""

    text: str
    true: str
    pred: str
    confidence: str  # formatted, e.g. "0.93"


@dataclass
class ModelDetail:
    """Per-class results of one architecture."""

    arch: str
    per_class: Table
    confusion: Table
    examples: list[Document] = field(default_factory=list)


@dataclass
class ModelErrors:
    arch: str
    errors: list[Document]
    is_best: bool  # HTML: shown expanded for the top-ranked model


@dataclass
class Token:
    text: str
    color: str  # CSS rgba()
    score: str  # formatted


@dataclass
class Explanation:
    true: str
    pred: str
    method: str
    tokens: list[Token]


@dataclass
class ModelExplanations:
    arch: str
    explanations: list[Explanation]
    figure: Figure | None


@dataclass
class Study:
    arch: str
    summary: Line
    figure: Figure | None
    best_params: Table


@dataclass
class Sample:
    model: str
    topic: str
    decoding: str
    text: str


@dataclass
class Generation:
    metrics: Table | None
    agreement: str | None
    samples: list[Sample]


@dataclass
class Report:
    title: str
    intro: Line
    ranking: Table
    significance: list[str]
    ensemble: list[str]
    registry: list[Line]
    cost_figure: Figure | None
    curves_figure: Figure | None
    loss_figure: Figure | None
    data: Table
    classes: Table
    quality: list[str]
    confusion_figure: Figure | None
    pr_figure: Figure | None
    calibration_figure: Figure | None
    details: list[ModelDetail]
    errors: list[ModelErrors]
    explanations: list[ModelExplanations]
    tuning: list[Study]
    generation: Generation | None
    provenance: Table
    params: Table
    export: Table | None = None
