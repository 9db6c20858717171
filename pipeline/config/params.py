"""The whole of ``params.yaml``: :class:`Params`, its validation and the error messages naming each bad key.

Every stage calls :func:`load_params` first, so a misspelt key, a wrong type or an unknown architecture
stops the run before any work starts, with a message that names the key and, where there is a fixed set,
the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from pipeline.config.base import BaseParams, ParamsError, Section, ordered_keys
from pipeline.config.checks import ChecksParams
from pipeline.config.data import DataParams, PreprocessParams
from pipeline.config.ensemble import EnsembleParams
from pipeline.config.evaluate import EvaluateParams, RegistryParams, ReportParams
from pipeline.config.generate import GenerateParams
from pipeline.config.pretrained import FinetuneParams, PretrainParams
from pipeline.config.scrape import ScrapeParams
from pipeline.config.serve import ServeParams
from pipeline.config.train import EmbeddingsParams, TrainParams
from pipeline.config.tune import TuneParams

PARAMS_FILE = Path("params.yaml")


class Params(Section):
    base: BaseParams = Field(default_factory=BaseParams, description="Seed, folders and the MLflow store.")
    data: DataParams = Field(default_factory=DataParams, description="Where the documents come from.")
    scrape: ScrapeParams = Field(default_factory=ScrapeParams, description="The crawl (data.source: scrape).")
    preprocess: PreprocessParams = Field(
        default_factory=PreprocessParams, description="Normalisation, tokens, vocabulary, classes and splits."
    )
    checks: ChecksParams = Field(
        default_factory=ChecksParams, description="Data checks before training (preprocess fails on any)."
    )
    embeddings: EmbeddingsParams = Field(
        default_factory=EmbeddingsParams, description="word2vec/fastText vectors for train.embedding_init."
    )
    train: TrainParams = Field(default_factory=TrainParams, description="The classifiers of the train stage.")
    pretrain: PretrainParams = Field(
        default_factory=PretrainParams, description="The small BERT pre-trained on the project's corpus."
    )
    finetune: FinetuneParams = Field(
        default_factory=FinetuneParams, description="Pretrained-transformer classifiers (finetune@<arch>)."
    )
    ensemble: EnsembleParams = Field(
        default_factory=EnsembleParams, description="A classifier combining the trained ones (ensemble stage)."
    )
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams, description="Test-set metrics and statistics.")
    report: ReportParams = Field(default_factory=ReportParams, description="The HTML/markdown report.")
    generate: GenerateParams = Field(
        default_factory=GenerateParams, description="Language models and Arabic text generation."
    )
    registry: RegistryParams = Field(
        default_factory=RegistryParams, description="The best classifier in the MLflow model registry."
    )
    tune: TuneParams = Field(default_factory=TuneParams, description="Hyperparameter search with Optuna.")
    serve: ServeParams = Field(
        default_factory=ServeParams, description="The HTTP API (python -m pipeline serve; not a DVC stage)."
    )

    @property
    def trained(self) -> list[str]:
        """Every classifier the pipeline trains: ``train.architectures`` then ``finetune.architectures``."""
        return [*self.train.architectures, *self.finetune.architectures]

    @property
    def classifiers(self) -> list[str]:
        """Every classifier evaluated, registered and reported: the trained ones, then ``ensemble`` if enabled."""
        return [*self.trained, *(["ensemble"] if self.ensemble.enabled else [])]

    @property
    def ensemble_members(self) -> list[str]:
        """The classifiers the ensemble combines (``ensemble.members``, or every trained one)."""
        return self.ensemble.members or self.trained

    @model_validator(mode="after")
    def _members_are_trained(self) -> Params:
        untrained = [a for a in self.ensemble.members if a not in self.trained]
        if untrained:
            raise ValueError(
                f"ensemble.members: {', '.join(map(repr, untrained))} is not trained (train.architectures or "
                f"finetune.architectures: {', '.join(self.trained)})"
            )
        if self.ensemble.enabled and len(self.ensemble_members) < 2:
            raise ValueError(
                f"ensemble.enabled needs at least two members, got {self.ensemble_members}; train more "
                "classifiers or set ensemble.enabled: false"
            )
        return self

    @model_validator(mode="after")
    def _tuned_are_trained(self) -> Params:
        untrained = [a for a in self.tune.architectures if a not in self.train.architectures]
        if untrained:
            raise ValueError(
                f"tune.architectures: {', '.join(map(repr, untrained))} is not in train.architectures "
                f"({', '.join(self.train.architectures)}); a tuned architecture must be one the train stage trains"
            )
        return self


def _format_error(source: str, err: ValidationError) -> str:
    lines = [f"{source}: invalid params ({err.error_count()} problem(s)):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            model: Any = Params
            for part in parent:
                field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
                model = field.annotation if field is not None else None
            allowed = ", ".join(ordered_keys(model)) if hasattr(model, "model_fields") else "?"
            msg = f"unknown key; allowed keys here: {allowed}"
        elif isinstance(e.get("input"), str | int | float | bool) and "got" not in msg:
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"  - {key}: {msg}" if key else f"  - {msg}")
    return "\n".join(lines)


EMPTY_HELP = (
    "it must name at least the sections dvc.yaml reads (train.architectures, finetune.architectures, "
    "generate.models, data.path); every key and its default: python -m pipeline params"
)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error (YAML itself keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ParamsError(
                    f"{self.name}: line {line}: key {key!r} appears twice in one mapping (first on line "
                    f"{seen[key]}); YAML would silently keep the last: delete one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_params(data: Any, source: str = "params.yaml") -> Params:
    """Validate a params mapping; raise :class:`ParamsError` naming each bad key."""
    if data is None:
        raise ParamsError(f"{source}: the file is empty; {EMPTY_HELP}")
    if not isinstance(data, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_format_error(source, err)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the repository root)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise ParamsError(
            f"{path}: line {line}: byte 0x{err.object[err.start]:02x} is not UTF-8; params.yaml must be saved as UTF-8"
        ) from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(path)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    finally:
        loader.dispose()
    return parse_params(data, str(path))
