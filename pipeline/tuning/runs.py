"""MLflow records of a study: one parent run ``tune-<arch>``, one nested child run ``trial-<n>`` per trial.

Runs are written with :class:`mlflow.MlflowClient` (no fluent "active run"), so several worker processes
can add child runs under one parent. The parent run id is kept in the study's user attrs
(``mlflow_parent_run_id``): a resumed study (or a second worker) reopens the same parent run.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pipeline.config import Params
from pipeline.tracking import claim_run, owner_tags, provenance_tags, setup_mlflow, tracking_uri
from pipeline.tuning.locks import store_lock

PARENT_ATTR = "mlflow_parent_run_id"
UID_ATTR = "uid"  # set once by the process that creates the study
RUN_ATTR = "mlflow_run_id"
STATUS = {"complete": "FINISHED", "pruned": "FINISHED", "fail": "FAILED", "killed": "KILLED"}


def client_for(params: Params) -> tuple[Any, str]:
    """An MLflow client on the repo's store and the experiment id."""
    from mlflow import MlflowClient

    with store_lock(tracking_uri(params.base)):  # workers started together: one creates the store
        experiment_id = setup_mlflow(params.base)
    return MlflowClient(tracking_uri=tracking_uri(params.base)), experiment_id


def _usable(client: Any, run_id: str | None) -> bool:
    if not run_id:
        return False
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except Exception:  # not in this store (another tracking URI) or deleted for good
        return False


def parent_run(client: Any, experiment_id: str, study: Any, arch: str, params: Params) -> str:
    """The study's parent run: the one recorded in the study if this store still has it, else a new one."""
    run_id = study.user_attrs.get(PARENT_ATTR)
    if _usable(client, run_id):
        claim_run(client, run_id)
        return run_id
    uid = _study_uid(study)
    tags = {
        **provenance_tags(params.base.seed),
        "arch": arch,
        "stage": "tune",
        "study_name": study.study_name,
        "study_uid": uid,
    }
    run = client.create_run(experiment_id, run_name=f"tune-{arch}", tags=tags)
    # Workers starting together may each create one: all keep the oldest and the others delete theirs.
    rivals = client.search_runs([experiment_id], filter_string=f"tags.study_uid = '{uid}'", max_results=1000)
    canonical = min(rivals, key=lambda r: (r.info.start_time, r.info.run_id)).info.run_id if rivals else run.info.run_id
    if canonical != run.info.run_id:
        client.delete_run(run.info.run_id)
        claim_run(client, canonical)
        study.set_user_attr(PARENT_ATTR, canonical)
        return canonical
    tp = params.tune
    client.log_batch(
        run.info.run_id,
        params=_params(
            {
                "tune.n_trials": tp.n_trials,
                "tune.max_epochs": tp.max_epochs,
                "tune.sampler": tp.sampler,
                "tune.pruner": tp.pruner,
                "tune.timeout_s": tp.timeout_s,
                "tune.search_space": json.dumps(
                    {k: v.model_dump(exclude_none=True) for k, v in tp.search_space.items()}
                ),
                "study_name": study.study_name,
            }
        ),
    )
    study.set_user_attr(PARENT_ATTR, run.info.run_id)
    return run.info.run_id


def _study_uid(study: Any) -> str:
    """The study's ``uid`` (its creator sets it right after creating it: wait a little for it)."""
    for _ in range(20):
        uid = study.user_attrs.get(UID_ATTR)
        if uid:
            return str(uid)
        time.sleep(0.5)
    study.set_user_attr(UID_ATTR, study.study_name)  # a study made by other code: its name must do
    return study.study_name


def _params(values: dict[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(k, str(v)[:6000]) for k, v in values.items()]


class TrialRun:
    """The child run of one trial."""

    def __init__(self, client: Any, experiment_id: str, parent_id: str, trial_number: int, study_name: str) -> None:
        self.client = client
        tags = {"mlflow.parentRunId": parent_id, "trial_number": str(trial_number), "study_name": study_name}
        tags.update(owner_tags())  # a worker killed by SIGKILL leaves it RUNNING: the next stage ends it KILLED
        self.run_id = client.create_run(experiment_id, run_name=f"trial-{trial_number}", tags=tags).info.run_id

    def log_params(self, values: dict[str, Any]) -> None:
        self.client.log_batch(self.run_id, params=_params(values))

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, epoch) for k, v in metrics.items()])

    def finish(self, state: str, value: float | None = None, reason: str | None = None) -> None:
        """``state``: complete, pruned, fail or killed."""
        self.client.set_tag(self.run_id, "state", state)
        if value is not None:
            self.client.log_metric(self.run_id, "best/val_f1_macro", value)
        if reason:
            self.client.set_tag(self.run_id, "fail_reason", reason[:5000])
        self.client.set_terminated(self.run_id, STATUS[state])


def finish_parent(client: Any, parent_id: str, study: Any, states: dict[str, int]) -> None:
    """Tag the best trial's run (``best_trial=true``, the others ``false``; trials whose run this store does not
    have are skipped), copy its params and value to the parent, log the state counts, close the parent run."""
    from mlflow.entities import Metric

    best = _best(study)
    for t in study.get_trials(deepcopy=False):
        run_id = t.user_attrs.get(RUN_ATTR)
        if _usable(client, run_id):  # a trial run in another store (the study outlived its MLflow store) is left
            client.set_tag(run_id, "best_trial", "true" if best is not None and t.number == best.number else "false")
    now = int(time.time() * 1000)
    metrics = [Metric(f"trials/{k.lower()}", float(v), now, 0) for k, v in states.items()]
    if best is not None:
        metrics.append(Metric("best/val_f1_macro", float(best.value), now, 0))
        client.set_tag(parent_id, "best_trial_number", str(best.number))
        client.set_tag(parent_id, "best_trial_run_id", str(best.user_attrs.get(RUN_ATTR, "")))
        # Parent params are immutable once logged; a resumed study whose best changed logs tags instead.
        logged = client.get_run(parent_id).data.params
        fresh = {f"best.{k}": v for k, v in best.params.items() if f"best.{k}" not in logged}
        if fresh:
            client.log_batch(parent_id, params=_params(fresh))
        for k, v in best.params.items():
            client.set_tag(parent_id, f"best.{k}", str(v))
    client.log_batch(parent_id, metrics=metrics)
    client.set_terminated(parent_id, "FINISHED")


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no COMPLETE trial
        return None
