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

import hashlib
import json
import logging
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import cli
from pipeline.config import Params, ParamsError, load_params
from pipeline.data.jsonl import DataError, write_json
from pipeline.models.registry import ARCHITECTURES
from pipeline.tuning.locks import store_lock
from pipeline.tuning.runs import UID_ATTR
from pipeline.tuning.space import current_values

log = logging.getLogger("tune")
METRIC, DIRECTION = "val/f1_macro", "maximize"
# Train keys that do not change what a trial measures (left out of the study fingerprint).
FREE_TRAIN_KEYS = {"architectures", "seeds", "max_epochs", "resume", "state_dir", "accelerator", "precision"}
POLL_S = 2.0


def redact(url: str) -> str:
    """A storage URL with its password replaced by ``***``."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def storage_url(params: Params) -> str:
    """``tune.storage`` with a relative SQLite path made absolute (the working directory's file)."""
    url = params.tune.storage
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url[len(prefix) :].startswith("/"):
        url = prefix + str(Path.cwd() / url[len(prefix) :])
    return url


def study_fingerprint(params: Params, arch: str, data_fingerprint: str) -> str:
    """12 hex digits over the data, the fixed (non-searched) train/preprocess params, seed and search space."""
    space = params.tune.search_space
    train = {k: v for k, v in params.train.model_dump().items() if k not in FREE_TRAIN_KEYS}
    train = {k: v for k, v in train.items() if f"train.{k}" not in space}
    payload = {
        "arch": arch,
        "seed": params.base.seed,
        "deterministic": params.base.deterministic,
        "train": train,
        "preprocess": params.preprocess.model_dump(),
        "tune.max_epochs": params.tune.max_epochs,
        "space": {k: v.model_dump() for k, v in sorted(space.items())},
        "data": data_fingerprint,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def make_sampler(params: Params, seed: int) -> Any:
    import optuna

    if params.tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=params.tune.sampler_startup_trials)


def make_pruner(params: Params) -> Any:
    import optuna

    tp = params.tune
    if tp.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=tp.pruner_startup_trials, n_warmup_steps=tp.pruner_warmup_epochs, interval_steps=1
        )
    if tp.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=tp.hyperband_min_epochs,
            max_resource=tp.max_epochs,
            reduction_factor=tp.hyperband_reduction_factor,
        )
    return optuna.pruners.NopPruner()


def open_study(params: Params, arch: str, data_fingerprint: str, worker: int = 0) -> Any:
    """Create or load the study of ``arch`` in ``tune.storage``."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    url = storage_url(params)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs = {"connect_args": {"timeout": params.tune.storage_timeout_s}}
    name = params.tune.study_name.format(arch=arch, fingerprint=study_fingerprint(params, arch, data_fingerprint))
    for attempt in range(5):
        try:  # workers on several machines may race to create a new database's tables: retry
            with store_lock(url):
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=params.tune.heartbeat_s,
                    grace_period=3 * params.tune.heartbeat_s,
                )
                try:
                    probe = optuna.create_study(storage=storage, study_name=name, direction=DIRECTION)
                    probe.set_user_attr(UID_ATTR, uuid.uuid4().hex)  # tells it from an older study of that name
                    defaults = current_values(params, params.tune.search_space)
                    if params.tune.first_trial_defaults and defaults is not None:
                        probe.enqueue_trial(defaults)  # trial 0: the untuned params, the baseline to beat
                except optuna.exceptions.DuplicatedStudyError:
                    probe = optuna.load_study(study_name=name, storage=storage)
            break
        except SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(1.0 + attempt + 0.1 * worker)
    seed = params.base.seed + len(probe.trials) + 1_000_003 * worker
    return optuna.load_study(
        study_name=name, storage=storage, sampler=make_sampler(params, seed), pruner=make_pruner(params)
    )


def count_states(study: Any) -> Counter:
    return Counter(t.state.name for t in study.get_trials(deepcopy=False))


def run_trials(study: Any, objective: Any, params: Params) -> int:
    """Run trials until ``n_trials`` have a result (COMPLETE + PRUNED), the failure limit or the time budget;
    return how many this process ran."""
    import optuna

    tp = params.tune
    started, ran = time.monotonic(), 0
    while True:
        optuna.storages.fail_stale_trials(study)
        states = count_states(study)
        done, running, failed = states["COMPLETE"] + states["PRUNED"], states["RUNNING"], states["FAIL"]
        if done >= tp.n_trials:
            break
        if failed >= tp.max_failed_trials:
            log.warning("%s: %d failed trials (tune.max_failed_trials): stopping", study.study_name, failed)
            break
        if tp.timeout_s and time.monotonic() - started >= tp.timeout_s:
            log.warning(
                "%s: time budget tune.timeout_s=%s s spent after %d trial(s)", study.study_name, tp.timeout_s, ran
            )
            break
        if done + running >= tp.n_trials:  # the rest is running elsewhere: wait (one may fail and need a rerun)
            time.sleep(POLL_S)
            continue
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
        ran += 1
    return ran


def _trial_record(t: Any) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name,
        "value": t.value,
        "params": t.params,
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
        "duration_s": t.user_attrs.get("duration_s")
        or (round((t.datetime_complete - t.datetime_start).total_seconds(), 3) if t.datetime_complete else None),
        "mlflow_run_id": t.user_attrs.get("mlflow_run_id"),
        "fail_reason": t.user_attrs.get("fail_reason"),
    }


def importances(study: Any, seed: int) -> dict[str, float]:
    """fANOVA importance of each param over the COMPLETE trials (needs at least 2), else ``{}``."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        return {
            k: round(float(v), 6)
            for k, v in optuna.importance.get_param_importances(study, evaluator=evaluator).items()
        }
    except (RuntimeError, ValueError) as err:  # e.g. every complete trial has the same params
        log.info("no importances: %s", err)
        return {}


def study_report(study: Any, params: Params, arch: str, parent_id: str | None) -> dict[str, Any]:
    states = count_states(study)
    try:
        best = study.best_trial
        best_rec = {"number": best.number, "value": best.value, "params": best.params}
    except ValueError:
        best_rec = None
    return {
        "arch": arch,
        "tuned": True,
        "study_name": study.study_name,
        "storage": redact(params.tune.storage),
        "metric": METRIC,
        "direction": DIRECTION,
        "n_trials": params.tune.n_trials,
        "states": {k: states.get(k, 0) for k in ("COMPLETE", "PRUNED", "FAIL")},
        "best": best_rec,
        "trials": [_trial_record(t) for t in study.get_trials(deepcopy=False)],
        "importances": importances(study, params.base.seed),
        "mlflow_parent_run_id": parent_id,
    }


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
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*heartbeat.*", category=Warning)

    from pipeline.tuning.data import TrialData
    from pipeline.tuning.objective import Objective
    from pipeline.tuning.runs import client_for, finish_parent, parent_run

    data = TrialData(params.base.processed_dir)
    study = open_study(params, arch, data.fingerprint(), worker or 0)
    client, experiment_id = client_for(params)
    parent_id = parent_run(client, experiment_id, study, arch, params)
    objective = Objective(params, arch, data, client, experiment_id, parent_id, callbacks)
    ran = run_trials(study, objective, params)
    log.info("%s: %d trial(s) run by this process; states %s", study.study_name, ran, dict(count_states(study)))
    if worker is not None:
        return None
    report = study_report(study, params, arch, parent_id)
    finish_parent(client, parent_id, study, report["states"])
    write_json(Path(params.base.reports_dir) / "tuning" / f"{arch}.json", report)
    best = report["best"]
    tuned = (
        {}
        if best is None
        else {
            "arch": arch,
            "study_name": study.study_name,
            "metric": METRIC,
            "trial": best["number"],
            "value": best["value"],
            "params": best["params"],
        }
    )
    write_json(Path(params.tune.output_dir) / f"{arch}.json", tuned)
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
