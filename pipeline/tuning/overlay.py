"""Overlay the tune stage's best params on a training (``train@<arch>``).

``<tune.output_dir>/<arch>.json`` (written by :mod:`pipeline.stages.tune`; ``{}`` when ``arch`` is not tuned)
holds ``params``: dotted ``train.*``/``preprocess.*`` keys. :func:`apply_tuned` returns the params with
them replaced (nothing changes when the file is missing or empty, or ``tune.apply`` is false).

When the best params include ``preprocess.*`` keys, the processed splits' tokens no longer match: the
rows' raw ``text`` is re-tokenised with the tuned settings into ``<train.state_dir>/<arch>-tuned-data/``
(train/val/test, ``classes.json``, a train-only ``vocab.json`` and ``preprocess.json``) and the training
reads that folder instead of ``base.processed_dir``. :func:`record_tuned` then copies ``vocab.json`` and
``preprocess.json`` (``{"overrides": {...}, "preprocess": <the full preprocess section>}``) into each
model folder, so :func:`pipeline.serving.predict.load_predictor` re-tokenises rows the same way, and adds
``"tuned"`` (file, study, trial, value, params; ``null`` when untuned) to each ``run.json`` and tags
(``tuned``, ``tuned.keys``, ``tuned.study``) to each MLflow run.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.data.jsonl import DataError, read_json, write_json, write_jsonl
from pipeline.data.split import read_split
from pipeline.text.retokenise import retokenise, train_vocab
from pipeline.training.run_record import RunRecord
from pipeline.tuning.space import override, preprocess_keys

log = logging.getLogger("tuned")
SPLITS = ("train", "val", "test")
PREPROCESS_FILE = "preprocess.json"


def tuned_file(params: Params, arch: str) -> Path:
    return Path(params.tune.output_dir) / f"{arch}.json"


def load_tuned(params: Params, arch: str) -> dict[str, Any]:
    """The tuned record of ``arch`` (``{}`` when there is none or ``tune.apply`` is false)."""
    path = tuned_file(params, arch)
    if not params.tune.apply or not path.is_file():
        return {}
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("params", {}), dict):
        raise DataError(f"{path}: expected an object with a `params` mapping")
    return record if record.get("params") else {}


def tuned_data_dir(params: Params, arch: str) -> Path:
    return Path(params.train.state_dir) / f"{arch}-tuned-data"


def write_retokenised(src: Path, dst: Path, params: Params, overrides: dict[str, Any]) -> None:
    """``src``'s splits re-tokenised from ``text`` under ``params.preprocess`` into ``dst`` (same rows, same
    labels, new tokens), with a train-only vocabulary and ``preprocess.json``."""
    pp = params.preprocess
    dst.mkdir(parents=True, exist_ok=True)
    tokens: dict[str, list[list[str]]] = {}
    for name in SPLITS:
        rows = read_split(src / f"{name}.jsonl")
        tokens[name] = retokenise(rows, pp)
        write_jsonl(dst / f"{name}.jsonl", ({**r, "tokens": t} for r, t in zip(rows, tokens[name], strict=True)))
    train_vocab(tokens["train"], pp).save(dst / "vocab.json")
    shutil.copyfile(src / "classes.json", dst / "classes.json")
    write_json(dst / PREPROCESS_FILE, {"overrides": overrides, "preprocess": pp.model_dump()})


def apply_tuned(params: Params, arch: str) -> Params:
    """``params`` with the tuned params of ``arch`` overlaid (re-tokenised data when preprocessing is tuned)."""
    record = load_tuned(params, arch)
    overrides = record.get("params") or {}
    if not overrides:
        return params
    path = tuned_file(params, arch)
    tuned = override(params, overrides, source=str(path))
    log.info("%s: training with tuned params from %s: %s", arch, path, overrides)
    pp = preprocess_keys(overrides)
    if pp:
        target = tuned_data_dir(params, arch)
        write_retokenised(Path(params.base.processed_dir), target, tuned, pp)
        tuned = override(tuned, {"base.processed_dir": str(target)}, source=str(path))
        log.info("%s: tuned preprocessing %s: splits re-tokenised into %s", arch, pp, target)
    return tuned


def record_tuned(params: Params, arch: str, records: list[RunRecord]) -> None:
    """Say in each run record (and its ``run.json``, and MLflow run) which params came from tuning; give each
    model folder the tuned preprocessing and vocabulary. ``params`` are the overlaid ones."""
    record = load_tuned(params, arch)
    overrides = record.get("params") or {}
    info = (
        {
            "file": str(tuned_file(params, arch)),
            "study_name": record.get("study_name"),
            "trial": record.get("trial"),
            "value": record.get("value"),
            "params": overrides,
        }
        if overrides
        else None
    )
    data_dir = tuned_data_dir(params, arch)
    client = None
    for rec in records:
        rec.tuned = info
        model_dir = Path(rec.checkpoint).parent
        if info and preprocess_keys(overrides):
            for name in (PREPROCESS_FILE, "vocab.json"):
                shutil.copyfile(Path(params.base.processed_dir) / name, model_dir / name)
        rec.save(model_dir)
        if info and rec.mlflow_run_id:
            if client is None:
                from mlflow import MlflowClient

                from pipeline.tracking import tracking_uri

                client = MlflowClient(tracking_uri=tracking_uri(params.base))
            client.set_tag(rec.mlflow_run_id, "tuned", "true")
            client.set_tag(rec.mlflow_run_id, "tuned.keys", ",".join(sorted(overrides)))
            client.set_tag(rec.mlflow_run_id, "tuned.study", str(record.get("study_name")))
    if info and preprocess_keys(overrides):
        shutil.rmtree(data_dir, ignore_errors=True)  # a finished training leaves no state behind
