"""The ``tune`` section: Optuna studies, their search space, and which params a search space may name."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from pipeline.config.base import Section
from pipeline.models.registry import ARCHITECTURES

# Keys tuning may not search: they pick what is trained or how, change the labels/splits (the test split
# must stay untouched), or are set by the tune section itself.
NOT_TUNABLE = {
    "train.architectures": "it names what is trained, not a hyperparameter",
    "train.seeds": "seeds are for repeated final trainings",
    "train.max_epochs": "trials use tune.max_epochs",
    "train.resume": "it is not a hyperparameter",
    "train.state_dir": "it is not a hyperparameter",
    "train.accelerator": "it is not a hyperparameter",
    "train.precision": "it is not a hyperparameter",
    "train.limit_train_batches": "it is not a hyperparameter",
    "train.devices": "it is not a hyperparameter",
    "train.num_nodes": "it is not a hyperparameter",
    "train.strategy": "it is not a hyperparameter",
    "train.num_workers": "it is not a hyperparameter",
    "train.num_threads": "it is not a hyperparameter",
    "preprocess.bins": "it changes the labels",
    "preprocess.split": "it changes the splits (the test split must stay untouched)",
    "preprocess.num_workers": "it is not a hyperparameter",
    "preprocess.max_samples": "it changes the documents",
}


class SearchDim(Section):
    """One dimension of a search space: ``float``, ``log_float``, ``int`` (with ``step``) or ``categorical``."""

    type: Literal["float", "log_float", "int", "categorical"] = Field(
        ..., description="float (uniform), log_float (log-uniform), int (with step) or categorical (choices)."
    )
    low: float | None = Field(None, description="float/log_float/int: lower bound (inclusive).")
    high: float | None = Field(None, description="float/log_float/int: upper bound (inclusive).")
    step: float | None = Field(None, gt=0, description="int: step (default 1); float: optional discretisation.")
    log: bool = Field(False, description="int/float: sample on a log scale (log_float implies it).")
    choices: list[str | int | float | bool | None] | None = Field(
        None, description="categorical: the values to choose from (scalars)."
    )

    @model_validator(mode="after")
    def _complete(self) -> SearchDim:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("type categorical needs a non-empty `choices` list")
            if self.low is not None or self.high is not None:
                raise ValueError("type categorical takes `choices`, not `low`/`high`")
            if len({repr(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"`choices` lists a value twice: {self.choices}")
            return self
        if self.choices is not None:
            raise ValueError(f"type {self.type} takes `low`/`high`, not `choices`")
        if self.low is None or self.high is None:
            raise ValueError(f"type {self.type} needs `low` and `high`")
        if self.low > self.high:
            raise ValueError(f"`low` ({self.low}) must not exceed `high` ({self.high})")
        if (self.type == "log_float" or self.log) and self.low <= 0:
            raise ValueError(f"a log scale needs `low` > 0, got {self.low}")
        if self.type == "int":
            if self.low != int(self.low) or self.high != int(self.high) or (self.step or 1) != int(self.step or 1):
                raise ValueError("type int needs integer `low`, `high` and `step`")
            if self.log and (self.step or 1) != 1:
                raise ValueError("type int with log: true needs step 1")
        if self.type == "log_float" and self.step is not None:
            raise ValueError("type log_float takes no `step`")
        return self

    def candidates(self) -> list[Any]:
        """The values whose field-level validity is checked: the bounds, or every choice."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low or 0), int(self.high or 0)]
        return [self.low, self.high]


class TuneParams(Section):
    architectures: list[str] = Field(
        default_factory=lambda: ["lstm"],
        description="Architectures tuned by the tune stage (each must be a network in train.architectures); "
        "the others get an empty best-params file and train with params.yaml as it is.",
    )
    n_trials: int = Field(
        8, ge=1, description="Trials with a result (COMPLETE or PRUNED) per study; a rerun only adds the missing ones."
    )
    max_failed_trials: int = Field(
        8, ge=0, description="Stop a study after this many FAIL trials (failed trials do not count towards n_trials)."
    )
    timeout_s: float = Field(
        600.0, ge=0, description="Time budget of one tune invocation, seconds: no trial starts after it (0 = none)."
    )
    max_epochs: int = Field(
        10, ge=1, description="Epochs per trial (at most; the pruner or early stopping may stop a trial earlier)."
    )
    first_trial_defaults: bool = Field(
        True,
        description="A new study's first trial uses the params.yaml values of the searched keys (when they lie in "
        "the space), so the best trial is never worse on val than the untuned params.",
    )
    threads: int = Field(
        1,
        ge=0,
        description="torch threads of a tuning process (0: the available cores). Small trials gain little from more, "
        "and with one thread per worker, several workers do not fight over the cores.",
    )
    trial_devices: int = Field(
        1,
        ge=1,
        description="Processes (on CPU) or GPUs each trial trains on. Above 1 a trial is a ddp_spawn fit: rank 0 "
        "reports every epoch to the study through its RDB storage, the pruner's decision reaches every rank, and "
        "the trial ends PRUNED as in one process.",
    )
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler, seeded from base.seed.")
    sampler_startup_trials: int = Field(
        4, ge=1, description="tpe: random trials before the model-based sampling starts."
    )
    pruner: Literal["median", "hyperband", "none"] = Field(
        "median",
        description="median: stop a trial whose val/f1_macro is below the median of earlier trials at the same "
        "epoch; hyperband: successive halving brackets over epochs; none: never prune.",
    )
    pruner_startup_trials: int = Field(3, ge=0, description="median: trials that finish before any pruning happens.")
    pruner_warmup_epochs: int = Field(
        1, ge=0, description="median: epochs of each trial that are never pruned (reports before this are ignored)."
    )
    hyperband_min_epochs: int = Field(1, ge=1, description="hyperband: epochs every trial gets (min_resource).")
    hyperband_reduction_factor: int = Field(3, ge=2, description="hyperband: reduction factor between rungs.")
    storage: str = Field(
        "sqlite:///optuna.db",
        description="Optuna RDB URL: a SQLite file (relative to the working directory; not a DVC output, so "
        "studies survive re-runs) or e.g. postgresql+psycopg://user:pass@host/db for workers on several machines "
        "(postgresql:// means the same).",
    )
    storage_timeout_s: float = Field(
        60.0, gt=0, description="SQLite: seconds a worker waits for the database lock held by another worker."
    )
    heartbeat_s: int = Field(
        5,
        ge=1,
        description="Seconds between trial heartbeats (Optuna heartbeat_interval); a RUNNING trial whose worker "
        "stopped beating for tune.grace_period_s is marked FAIL by the next worker that looks.",
    )
    grace_period_s: int = Field(
        0, ge=0, description="Seconds without a heartbeat before a RUNNING trial is stale (0: 3 × tune.heartbeat_s)."
    )
    max_retry: int = Field(
        1,
        ge=0,
        description="Times a trial failed by a stale heartbeat (its worker died) is re-queued with the same params "
        "and run by a live worker (0: never).",
    )
    study_name: str = Field(
        "{arch}-{fingerprint}",
        description="Study name template: {arch} and {fingerprint} (hash of the data, the fixed params and the "
        "search space, so incompatible trials never mix).",
    )
    output_dir: str = Field(
        "data/tuned", description="Best params per architecture (<arch>.json), read by the train stage."
    )
    apply: bool = Field(True, description="Train with the tuned params (false: train with params.yaml as it is).")
    search_space: dict[str, SearchDim] = Field(
        default_factory=dict,
        description='Mapping of train.* / preprocess.* keys to dimensions, e.g. "train.lr": {type: log_float, '
        "low: 0.0005, high: 0.03}.",
    )

    @field_validator("architectures")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from pipeline.models.registry import is_neural

        for name in value:
            if name not in ARCHITECTURES:
                raise ValueError(f"unknown architecture {name!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
            if not is_neural(name):
                raise ValueError(f"{name!r} is not a network (nothing to tune with Lightning)")
        if len(set(value)) != len(value):
            raise ValueError(f"lists an architecture twice: {value}")
        return value

    @field_validator("search_space")
    @classmethod
    def _space(cls, value: dict[str, SearchDim]) -> dict[str, SearchDim]:
        check_search_space(value)
        return value

    @field_validator("study_name")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            value.format(arch="a", fingerprint="f")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"{value!r}: only {{arch}} and {{fingerprint}} may be used ({err!r})") from None
        return value


def _field_at(dotted: str) -> tuple[Any, str] | None:
    """The pydantic model holding ``dotted`` (e.g. ``preprocess.normalize.unify_alef``) and the leaf name."""
    from pipeline.config.params import Params  # Params holds TuneParams: import it when it exists

    model: Any = Params
    *parents, leaf = dotted.split(".")
    for part in parents:
        field = model.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    if leaf not in model.model_fields or (
        isinstance(model.model_fields[leaf].annotation, type)
        and issubclass(model.model_fields[leaf].annotation, BaseModel)
    ):
        return None
    return model, leaf


def check_search_space(space: dict[str, SearchDim]) -> None:
    """Every key names an existing, tunable ``train.*``/``preprocess.*`` param and every bound or choice is a
    valid value for it (cross-field constraints are checked per trial: a trial breaking one fails)."""
    from pydantic import TypeAdapter

    for key, dim in space.items():
        where = key
        if key.split(".", 1)[0] not in ("train", "preprocess"):
            raise ValueError(f"{where}: only train.* and preprocess.* keys can be tuned")
        for banned, why in NOT_TUNABLE.items():
            if key == banned or key.startswith(banned + "."):
                raise ValueError(f"{where} cannot be tuned ({why})")
        found = _field_at(key)
        if found is None:
            raise ValueError(f"{where} is not a params key (see params.yaml)")
        model, leaf = found
        field = model.model_fields[leaf]
        if field.annotation is int and dim.type in ("float", "log_float"):
            raise ValueError(f"{where} is an integer: use type int (or categorical)")
        kind = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation  # type: ignore[valid-type]
        adapter = TypeAdapter(kind)
        for value in dim.candidates():
            try:
                adapter.validate_python(value, strict=True)
            except ValidationError as err:
                problem = err.errors()[0]["msg"].removeprefix("Value error, ")
                raise ValueError(f"{where}: {value!r} is not a valid value ({problem})") from None
