"""An Optuna study of one architecture: its name and storage, opening or resuming it, running its trials."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.config import Params
from pipeline.tuning.locks import store_lock
from pipeline.tuning.runs import UID_ATTR
from pipeline.tuning.space import current_values

log = logging.getLogger("tune")
METRIC, DIRECTION = "val/f1_macro", "maximize"
# Train keys that do not change what a trial measures (left out of the study fingerprint).
# train keys a trial's score does not depend on (prior_correction acts after the train stage's fit only)
FREE_TRAIN_KEYS = {
    "architectures", "seeds", "max_epochs", "resume", "state_dir", "accelerator", "precision", "prior_correction",
}  # fmt: skip


POLL_S = 2.0
WORKER_ATTR = "worker"  # user attr: host:pid of the process that ran the trial (set when its objective starts)
SURPLUS_ATTR = "surplus"  # user attr of a trial started when n_trials were already done or running elsewhere


def redact(url: str) -> str:
    """A storage URL with its password replaced by ``***``."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def storage_url(params: Params) -> str:
    """``tune.storage`` with a relative SQLite path made absolute (the working directory's file), and a bare
    ``postgresql://`` given the installed driver (``postgresql+psycopg://``, psycopg 3)."""
    url = params.tune.storage
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
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


def grace_period(params: Params) -> int:
    """Seconds without a heartbeat after which a RUNNING trial is stale."""
    return params.tune.grace_period_s or 3 * params.tune.heartbeat_s


def make_storage(params: Params, url: str, engine_kwargs: dict[str, Any] | None = None) -> Any:
    """The RDB storage of ``url`` (SQLite or a server such as PostgreSQL) with trial heartbeats: a trial whose
    worker stops beating for the grace period is failed by the next worker that looks and, up to
    ``tune.max_retry`` times, re-queued with the same params (``RetryHeartbeatStaleTrialCallback``)."""
    import optuna

    retry = None
    if params.tune.max_retry:
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=params.tune.max_retry)
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine_kwargs,
        heartbeat_interval=params.tune.heartbeat_s,
        grace_period=grace_period(params),
        heartbeat_stale_trial_callback=retry,
    )


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
                storage = make_storage(params, url, engine_kwargs)
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
    """Trials by state; a surplus trial (see :func:`is_surplus`) is counted as ``SURPLUS``, not ``FAIL``."""
    return Counter(
        "SURPLUS" if t.user_attrs.get(SURPLUS_ATTR) else t.state.name for t in study.get_trials(deepcopy=False)
    )


def is_surplus(trial: Any, n_trials: int) -> bool:
    """Whether ``n_trials`` trials numbered before ``trial`` already have a result or are running: two workers
    that both saw one free slot and started a trial at once; the later-numbered one must not run."""
    from optuna.trial import TrialState

    in_play = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    before = trial.study.get_trials(deepcopy=False, states=in_play)
    return sum(t.number < trial.number and not t.user_attrs.get(SURPLUS_ATTR) for t in before) >= n_trials


def _heartbeat_recorded(storage: Any, trial: Any) -> bool:
    """Whether the trial's worker ever recorded a heartbeat (an RDB storage's ``trial_heartbeats`` row); without an
    RDB engine to ask, whether it reached its objective (the ``worker`` attr)."""
    backend = getattr(storage, "_backend", storage)
    engine = getattr(backend, "engine", None)
    if engine is None:
        return WORKER_ATTR in trial.user_attrs
    import sqlalchemy as sa
    from optuna.storages._rdb.models import TrialHeartbeatModel

    query = sa.select(TrialHeartbeatModel.trial_heartbeat_id).where(TrialHeartbeatModel.trial_id == trial._trial_id)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def fail_unbeaten_trials(study: Any, grace_s: float) -> int:
    """Fail RUNNING trials that started more than ``grace_s`` ago and never recorded a heartbeat: their worker died
    between creating the trial and the heartbeat thread's first beat (before or just after its objective started),
    which Optuna's stale-trial check (it looks at heartbeats only) never sees, so they would hold a slot for ever.
    The storage's stale-trial callback (the retry) runs for them as for stale ones. Returns how many were failed."""
    from datetime import datetime

    from optuna.trial import TrialState

    storage, failed = study._storage, 0
    get_callback = getattr(storage, "get_heartbeat_stale_trial_callback", None)  # storages with heartbeats
    callback = get_callback() if get_callback else None
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.datetime_start is None or (datetime.now() - trial.datetime_start).total_seconds() < grace_s:
            continue
        if _heartbeat_recorded(storage, trial):
            continue
        if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            failed += 1
            log.warning("%s: trial %d never beat a heartbeat (worker gone): failed", study.study_name, trial.number)
            if callback is not None:
                callback(study, storage.get_trial(trial._trial_id))
    return failed


def run_trials(study: Any, objective: Any, params: Params, label: str = "tune") -> int:
    """Run trials until ``n_trials`` have a result (COMPLETE + PRUNED), the failure limit or the time budget;
    return how many this process ran. On a terminal, a bar ``label`` shows trials n/N and the best value."""
    import optuna

    from pipeline.progress import progress

    tp = params.tune
    started, ran = time.monotonic(), 0
    bar = progress(tp.n_trials, label, "trial")
    while True:
        optuna.storages.fail_stale_trials(study)
        fail_unbeaten_trials(study, grace_period(params))
        states = count_states(study)
        done, running, failed = states["COMPLETE"] + states["PRUNED"], states["RUNNING"], states["FAIL"]
        show_trials(bar, study, min(done, tp.n_trials))
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
    bar.close()
    return ran


def show_trials(bar: Any, study: Any, done: int) -> None:
    """Trials with a result n/N on the progress bar, and the best value so far."""
    if done > bar.n:
        bar.update(done - bar.n)
    if any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        bar.set_postfix_str(f"best {study.best_value:.4f}", refresh=False)


def quiet_trials() -> None:
    """Keep Lightning's per-trial chatter and Optuna's heartbeat warnings out of the log."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*heartbeat.*", category=Warning)
