"""Stage **ensemble**: combine the trained classifiers' probabilities, fitted on the validation split only.

``python -m pipeline ensemble`` reads ``base``, ``ensemble``, ``train.architectures`` and
``finetune.architectures``, loads every member (``ensemble.members``, or every trained classifier) from
``<models_dir>/<arch>/``, predicts the validation split, and fits the combiner (``ensemble.method``: mean,
weighted, stacked, or ``auto``: the best by cross-validated validation macro-F1; see
:mod:`pipeline.models.ensemble`). Writes ``<models_dir>/ensemble/``: ``ensemble.json`` (method, members,
weights or coefficients; JSON, no pickle), a copy of each member's folder under ``members/`` (so the folder is
self-contained and registers like any model) and ``run.json`` (the run record: members, weights, the
cross-validated validation macro-F1 of each method tried), logged to MLflow as ``train-ensemble``.
The evaluate, register and report stages then treat ``ensemble`` like any other classifier.
"""

from __future__ import annotations

from pipeline import cli
from pipeline.config import load_params
from pipeline.training.ensemble import build_ensemble


def main() -> None:
    cli.parser(__doc__).parse_args()
    build_ensemble(load_params())


if __name__ == "__main__":
    cli.run(main)
