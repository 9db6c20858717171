"""Stage **tune@<arch>**: an Optuna study per architecture; the best params for the train stage.

``python -m pipeline tune <arch>`` reads ``base``, ``preprocess``, ``train`` and ``tune`` params. For an
architecture listed in ``tune.architectures`` it runs (or resumes) a study on the train and val splits
only, then writes:

- ``<tune.output_dir>/<arch>.json`` (``data/tuned/<arch>.json``): ``{"arch", "study_name", "metric",
  "trial", "value", "params": {"train.lr": …, "preprocess.stemmer": …}}``, the best COMPLETE trial;
  ``{}`` for an architecture that is not tuned (so every ``train@<arch>`` can depend on its file; an
  unchanged file does not re-trigger training). No timestamps: the same study gives the same bytes.
- ``<reports_dir>/tuning/<arch>.json``, read by the report: ``{"arch", "tuned": true, "study_name",
  "storage" (password redacted), "metric": "val/f1_macro", "direction": "maximize", "n_trials",
  "states": {"COMPLETE": n, "PRUNED": n, "FAIL": n}, "best": {"number", "value", "params"} (null if no
  trial completed), "trials": [{"number", "state", "value", "params", "intermediate": {"<epoch>":
  value}, "duration_s", "mlflow_run_id", "fail_reason"}], "importances": {param: value} (fANOVA, when at
  least 2 trials completed, else {}), "mlflow_parent_run_id"}``; for an untuned architecture
  ``{"arch", "tuned": false}``.

**Resume.** The study lives in ``tune.storage`` (default ``sqlite:///optuna.db`` at the repo root,
git-ignored and not a DVC output, since DVC deletes outputs before re-running a stage). Its name
(``tune.study_name``, default ``{arch}-{fingerprint}``) carries a hash of the train/val data, the
fixed params and the search space, so a rerun with the same inputs loads the same study
and only runs the missing trials. ``tune.n_trials`` counts trials with a result (COMPLETE + PRUNED);
FAIL trials (an exception, a NaN loss, out of memory, an invalid combination, a process killed
mid-trial: its heartbeat stops and Optuna marks it FAIL) do not count, so they are replaced, up to
``tune.max_failed_trials`` failures. RUNNING trials of other workers count as in progress: a worker
waits for them rather than overshoot. ``tune.timeout_s`` bounds one invocation. With
``tune.first_trial_defaults`` a new study's first trial is the ``params.yaml`` values of the searched
keys: the untuned baseline the others must beat.

**Several workers.** ``python -m pipeline tune <arch> --worker [ID]`` runs trials on the same study and
writes nothing else: start as many as you like, on this machine (SQLite, with a lock timeout) or on
several machines (an RDB URL such as ``postgresql://…``); a last plain invocation (or ``dvc repro``)
writes the outputs. Samplers are seeded with ``base.seed``, the number of trials already in the study and
the worker id, so a resumed study or a second worker does not redraw the same points.

MLflow: a parent run ``tune-<arch>`` per study (reopened on resume), a nested run ``trial-<n>`` per trial
(params, per-epoch ``val/*``, tag ``state`` complete/pruned/fail); the best trial's run is tagged
``best_trial=true`` and its params and value are copied to the parent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ParamsError, load_params
from pipeline.data.jsonl import DataError, write_json
from pipeline.models.registry import ARCHITECTURES
from pipeline.tuning.report import study_report, tuned_params, write_study_report
from pipeline.tuning.study import METRIC, count_states, open_study, quiet_trials, run_trials

log = logging.getLogger("tune")


def write_untuned(params: Params, arch: str) -> None:
    write_json(Path(params.tune.output_dir) / f"{arch}.json", {})
    write_json(Path(params.base.reports_dir) / "tuning" / f"{arch}.json", {"arch": arch, "tuned": False})


def tune(params: Params, arch: str, worker: int | None = None, callbacks: Sequence[Any] = ()) -> dict[str, Any] | None:
    """Run (or resume) the study of ``arch``; return the report (``None`` for a worker, which writes nothing).
    ``callbacks`` are extra Lightning callbacks for every trial (tests use them)."""
    if arch not in ARCHITECTURES:
        raise ParamsError(f"unknown architecture {arch!r}; allowed: {', '.join(sorted(ARCHITECTURES))}")
    if arch not in params.tune.architectures:
        if worker is not None:
            raise ParamsError(f"tune.architectures does not list {arch!r}: nothing to tune")
        log.info("%s is not in tune.architectures: empty tuned params", arch)
        write_untuned(params, arch)
        return {"arch": arch, "tuned": False}
    if not params.tune.search_space:
        raise ParamsError(f"tune.search_space is empty: nothing to tune for {arch!r}")
    if not (Path(params.base.processed_dir) / "train.jsonl").is_file():
        raise DataError(f"{params.base.processed_dir}/train.jsonl not found (run the preprocess stage first)")
    quiet_trials()

    from pipeline.tuning.data import TrialData
    from pipeline.tuning.objective import Objective
    from pipeline.tuning.runs import client_for, finish_parent, parent_run

    data = TrialData(params.base.processed_dir)
    study = open_study(params, arch, data.fingerprint(), worker or 0)
    client, experiment_id = client_for(params)
    parent_id = parent_run(client, experiment_id, study, arch, params)
    objective = Objective(params, arch, data, client, experiment_id, parent_id, callbacks)
    ran = run_trials(study, objective, params, f"tune {arch}")
    log.info("%s: %d trial(s) run by this process; states %s", study.study_name, ran, dict(count_states(study)))
    if worker is not None:
        return None
    report = study_report(study, params, arch, parent_id)
    finish_parent(client, parent_id, study, report["states"])
    write_study_report(Path(params.base.reports_dir) / "tuning" / f"{arch}.json", report)
    write_json(Path(params.tune.output_dir) / f"{arch}.json", tuned_params(report))
    best = report["best"]
    if best is not None:
        log.info("%s: best trial %d, %s %.4f, params %s", arch, best["number"], METRIC, best["value"], best["params"])
    return report


def main() -> None:
    parser = cli.parser(__doc__)
    parser.add_argument("arch", help=f"one of: {', '.join(sorted(ARCHITECTURES))}")
    parser.add_argument(
        "--worker",
        nargs="?",
        type=int,
        const=1,
        default=None,
        metavar="ID",
        help="only run trials on the shared study (write no outputs); ID (default 1) varies the sampler seed",
    )
    args = parser.parse_args()
    tune(load_params(), args.arch, worker=args.worker)


if __name__ == "__main__":
    cli.run(main)
