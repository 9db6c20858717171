"""The params schema: every key documented and defaulted, trainer keys defined once, ``python -m pipeline
params`` and the README reference generated from it, and no scraping library loaded by params validation."""

import os
import subprocess
import sys
from typing import get_args

import pytest
from pydantic import BaseModel

from pipeline.config import (
    EarlyStoppingParams,
    FinetuneParams,
    LMTrainParams,
    Params,
    ParamsError,
    PretrainParams,
    TrainerParams,
    TrainParams,
    parse_params,
)
from pipeline.config.schema import BEGIN, END, format_value, markdown, sections, splice_readme
from tests.conftest import REPO

# Fields that must be given, with the reason: a search-space dimension without a type means nothing.
REQUIRED = {"SearchDim.type"}
TRAINING_SECTIONS = {"train": TrainParams, "finetune": FinetuneParams, "generate.train": LMTrainParams}
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def models(model: type[BaseModel], seen: set | None = None):
    """``model`` and every model reachable from its fields (sub-sections, dict and list entries)."""
    seen = set() if seen is None else seen
    if model in seen:
        return
    seen.add(model)
    yield model
    for field in model.model_fields.values():
        for tp in (field.annotation, *get_args(field.annotation)):
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                yield from models(tp, seen)


def test_every_key_has_a_default_and_a_one_line_description():
    undocumented, required = [], set()
    for model in models(Params):
        for name, field in model.model_fields.items():
            if not field.description or "\n" in field.description:
                undocumented.append(f"{model.__name__}.{name}")
            if field.is_required():
                required.add(f"{model.__name__}.{name}")
    assert not undocumented, f"keys without a one-line description: {undocumented}"
    assert required == REQUIRED, f"keys without a default: {sorted(required - REQUIRED)}"


def test_trainer_keys_are_defined_once_and_keep_their_defaults():
    shared = set(TrainerParams.model_fields)
    assert {"accelerator", "precision", "grad_clip", "limit_train_batches", "devices", "num_nodes"} <= shared
    assert {"strategy", "num_workers", "num_threads"} <= shared
    for name, model in {**TRAINING_SECTIONS, "pretrain": PretrainParams}.items():
        assert issubclass(model, TrainerParams), name
        parent = EarlyStoppingParams if issubclass(model, EarlyStoppingParams) else TrainerParams
        for key, field in parent.model_fields.items():  # a section may change a default, nothing else
            own = model.model_fields[key]
            assert (own.annotation, own.metadata, own.description) == (
                field.annotation,
                field.metadata,
                field.description,
            )
    for model in (*TRAINING_SECTIONS.values(), PretrainParams):
        assert issubclass(model, EarlyStoppingParams)
    params = parse_params({})
    epochs = {name: (sec.max_epochs, sec.patience) for name, sec in [("train", params.train),
              ("finetune", params.finetune), ("generate.train", params.generate.train),
              ("pretrain", params.pretrain)]}  # fmt: skip
    assert epochs == {"train": (15, 4), "finetune": (20, 5), "generate.train": (8, 2), "pretrain": (20, 20)}
    assert params.tune.max_epochs == 10
    for section in (params.train, params.finetune, params.generate.train, params.pretrain):
        assert (section.accelerator, section.precision, section.grad_clip, section.limit_train_batches) == (
            "auto", "auto", 1.0, 1.0,
        )  # fmt: skip
        assert (section.devices, section.num_nodes, section.strategy) == (1, 1, "auto")
        assert (section.num_workers, section.num_threads) == (0, 0)
    assert "PIPELINE_NUM_THREADS" in TrainerParams.model_fields["num_threads"].description


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"train": {"devices": 0}}, ["train.devices", "integer >= 1 or 'auto'", "(got 0)"]),
        ({"finetune": {"devices": "gpu"}}, ["finetune.devices", "'auto'", "'gpu'"]),
        ({"pretrain": {"strategy": "deepspeed"}}, ["pretrain.strategy", "ddp_spawn", "fsdp", "'deepspeed'"]),
        ({"generate": {"train": {"num_workers": -1}}}, ["generate.train.num_workers", "greater than or equal to 0"]),
        ({"train": {"num_nodes": 0}}, ["train.num_nodes", "greater than or equal to 1"]),
        ({"pretrain": {"epochs": 3}}, ["pretrain.epochs", "unknown key", "max_epochs"]),
        ({"tune": {"search_space": {"train.num_threads": {"type": "int", "low": 1, "high": 4}}}}, ["not a hyper"]),
    ],
)
def test_trainer_keys_are_validated(data, expected):
    with pytest.raises(ParamsError) as err:
        parse_params(data)
    for fragment in expected:
        assert fragment in str(err.value)


def test_new_trainer_keys_accept_their_values():
    params = parse_params({"train": {"devices": "auto", "strategy": "ddp", "num_workers": 2, "num_threads": 4}})
    assert (params.train.devices, params.train.strategy, params.train.num_workers) == ("auto", "ddp", 2)
    assert parse_params({"finetune": {"devices": 2, "num_nodes": 2}}).finetune.devices == 2


def test_params_validation_does_not_import_the_scraping_libraries():
    code = (
        "import sys; import pipeline.config as c; assert 'parsel' not in sys.modules, 'import'; "
        f"c.load_params({str(REPO / 'params.yaml')!r}); assert 'parsel' not in sys.modules, 'load_params'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(ParamsError, match=r"scrape\.text_selectors"):  # selectors are still checked, lazily
        parse_params({"scrape": {"text_selectors": ["p[["]}})


def test_schema_lists_every_section_and_renders_values():
    found = sections()
    assert list(found) == list(Params.model_fields)
    train = {k.key: k for k in found["train"][1]}
    assert train["max_epochs"].default == "15" and train["max_epochs"].type == "int, >= 1"
    assert train["devices"].type == "int | auto" and train["strategy"].type == "auto | ddp | ddp_spawn | fsdp"
    generate = {k.key for k in found["generate"][1]}
    assert {"train.max_epochs", "decodings.<name>.top_p", "eval.decoding"} <= generate
    assert format_value({"a": [1.0, None, True, "x"]}) == "{a: [1.0, null, true, x]}"
    assert format_value("") == "''"


def test_params_command_prints_the_schema():
    run = [sys.executable, "-m", "pipeline", "params"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=120, env=ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "train: " in proc.stdout and "  num_threads (int, >= 0) = 0" in proc.stdout
    proc = subprocess.run([*run, "--markdown"], capture_output=True, text=True, timeout=120, env=ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == markdown() and "| `max_epochs` | int, >= 1 | `20` |" in proc.stdout


def test_readme_params_reference_matches_the_schema():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.count(BEGIN) == 1 and readme.count(END) == 1
    assert readme == splice_readme(readme, markdown()), (
        "README.md's params reference differs from the schema in pipeline/config/: run `make params-doc`"
    )
