"""Stage **train@<arch>**: fit one architecture, keep its best and last checkpoints.

``python -m pipeline train <arch>`` reads ``base``, ``train``, ``tune.output_dir``/``tune.apply`` (the tune
stage's best params) and writes ``<models_dir>/<arch>/``: ``best.ckpt`` (best validation macro-F1),
``last.ckpt`` (the final epoch) and ``run.json`` (the typed run record: seed, git commit, versions, params,
parameter count, times, epochs, per-epoch curve, CPU inference latency, MLflow run id), logged to MLflow as
``train-<arch>``. ``tfidf_linear`` is fitted with scikit-learn and saved as ``model.joblib``. Pretrained
transformers (``bert``, ``electra``) belong to the finetune stage and are refused here.

Interrupted trainings resume (``train.resume``): see :mod:`pipeline.training.fit`. With ``train.seeds`` the
architecture is trained once per seed; the first seed's model is the primary one, each further seed's goes
to ``<arch>/seeds/<seed>/``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ParamsError, load_params
from pipeline.models.registry import ARCHITECTURES, is_neural, is_pretrained
from pipeline.training.classifier import train_baseline, train_network
from pipeline.training.distributed import is_rank_zero
from pipeline.training.run_record import RunRecord
from pipeline.tuning.overlay import apply_tuned, record_tuned

log = logging.getLogger("train")


def trainable(arch: str) -> None:
    """Refuse a name the train stage does not train, saying where it belongs."""
    allowed = ", ".join(sorted(a for a in ARCHITECTURES if not is_pretrained(a)))
    if arch not in ARCHITECTURES:
        raise ParamsError(f"unknown architecture {arch!r}; allowed: {allowed}")
    if is_pretrained(arch):
        raise ParamsError(
            f"{arch!r} is a pretrained transformer: fine-tune it with `python -m pipeline finetune {arch}` "
            f"(finetune.architectures); the train stage trains: {allowed}"
        )


def with_seed(params: Params, seed: int) -> Params:
    """``params`` with ``base.seed`` replaced."""
    return params.model_copy(update={"base": params.base.model_copy(update={"seed": seed})})


def train(params: Params, arch: str, callbacks: Sequence[Any] = ()) -> RunRecord | None:
    """Train ``arch`` once per seed of ``train.seeds`` (or once with ``base.seed``); return the primary
    run record. ``callbacks`` are extra Lightning callbacks (tests use one to interrupt a training).
    In a distributed training every process runs this; only rank 0 writes and returns a record."""
    trainable(arch)
    params = apply_tuned(params, arch)  # the tune stage's best params, if any
    seeds = params.train.seeds or [params.base.seed]
    out_dir = Path(params.base.models_dir) / arch
    writer = is_rank_zero(params.train)
    if writer:
        shutil.rmtree(out_dir, ignore_errors=True)
    records: list[Any] = []
    for i, seed in enumerate(seeds):
        target = out_dir if i == 0 else out_dir / "seeds" / str(seed)
        state = Path(params.train.state_dir) / (arch if i == 0 else f"{arch}-seed-{seed}")
        if len(seeds) > 1:
            log.info("%s: seed %d (%d of %d)", arch, seed, i + 1, len(seeds))
        seeded = with_seed(params, seed)
        if is_neural(arch):
            records.append(train_network(seeded, arch, target, state, callbacks))
        else:
            records.append(train_baseline(seeded, arch, target))
    if not writer:
        return None
    record_tuned(params, arch, records)
    return records[0]


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("arch", help=f"one of: {', '.join(sorted(a for a in ARCHITECTURES if not is_pretrained(a)))}")
    args = parser.parse_args()
    train(load_params(), args.arch)


if __name__ == "__main__":
    cli.run(main)
