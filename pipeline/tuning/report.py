"""The report of a study (``reports/tuning/<arch>.json``) and the best params it hands to training."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline import runlog
from pipeline.config import Params
from pipeline.data.jsonl import read_json, write_json
from pipeline.tuning.study import DIRECTION, METRIC, count_states, redact

log = logging.getLogger("tune")


def trial_record(t: Any) -> dict[str, Any]:
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
        "trials": [trial_record(t) for t in study.get_trials(deepcopy=False)],
        "importances": importances(study, params.base.seed),
        "mlflow_parent_run_id": parent_id,
    }


TRIAL_FACTS = ("duration_s", "mlflow_run_id")  # facts of the execution: the run log's, not the report's


def write_study_report(path: Path, report: dict[str, Any]) -> None:
    """``report`` into ``path``, its MLflow run ids and trial durations into the run log
    (:mod:`pipeline.runlog`): the same study gives the same bytes."""
    kept = {k: v for k, v in report.items() if k != "mlflow_parent_run_id"}
    kept["trials"] = [{k: v for k, v in t.items() if k not in TRIAL_FACTS} for t in report.get("trials", [])]
    facts = {
        "mlflow_parent_run_id": report.get("mlflow_parent_run_id"),
        "trials": {str(t["number"]): {k: t.get(k) for k in TRIAL_FACTS} for t in report.get("trials", [])},
    }
    write_json(path, kept)
    runlog.write(path, facts)


def read_study_report(path: Path) -> dict[str, Any]:
    """The report in ``path`` with its run log's facts put back (absent where the study ran elsewhere)."""
    report, facts = read_json(path), runlog.read(path)
    if "trials" in report:
        per_trial = facts.get("trials") or {}
        report["trials"] = [{**t, **per_trial.get(str(t["number"]), {})} for t in report["trials"]]
        report["mlflow_parent_run_id"] = facts.get("mlflow_parent_run_id")
    return report


def tuned_params(report: dict[str, Any]) -> dict[str, Any]:
    """``data/tuned/<arch>.json``: the best COMPLETE trial of the report, ``{}`` when none completed."""
    best = report["best"]
    if best is None:
        return {}
    return {
        "arch": report["arch"],
        "study_name": report["study_name"],
        "metric": METRIC,
        "trial": best["number"],
        "value": best["value"],
        "params": best["params"],
    }
