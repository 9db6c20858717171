"""Benchmark the tune stage on the demo data: what pruning saves, and 1 against 2 workers on one study.

1. Pruning: the same number of trials (``TUNE_BENCH_TRIALS``, default 16) of ``lstm`` with the search space
   of ``params.yaml``, ``TUNE_BENCH_EPOCHS`` (default 8) epochs per trial, the TPE sampler with the same
   seed, once with the median pruner and once without: the fraction of trials pruned, the wall time of
   each study and the best validation macro-F1 each found.
2. Workers: ``TUNE_BENCH_WORKER_TRIALS`` (default 12) trials with one ``python -m pipeline tune lstm
   --worker`` process, then with two at once, on a shared SQLite study. Each process uses one torch
   thread (``tune.threads: 1``), so two workers use the machine's two cores and one worker one core: a fair
   comparison on this 2-core machine. The search space is narrowed to ``train.lr`` and ``train.dropout``
   and pruning is off, so every trial costs about the same and the ratio measures parallelism, not the
   luck of the draw. Wall times are process wall times (start-up included); ``*_trials_span_s`` is the
   first trial's start to the last trial's end in the study. Afterwards the study is checked: trial
   numbers unique and contiguous, every trial finished with a result, exactly one MLflow child run per
   trial (``trials_lost``, ``trials_duplicated``).

Everything runs in a temporary project (its own ``optuna.db`` and MLflow store) on the demo corpus: the
repository's ``data/processed`` when present (``dvc repro`` made it), else scraped and preprocessed there.
Writes ``reports/bench/tuning.json``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

sys.path.insert(0, str(REPO))  # this checkout's pipeline, not another one installed in the venv

TRIALS = int(os.environ.get("TUNE_BENCH_TRIALS", "16"))
EPOCHS = int(os.environ.get("TUNE_BENCH_EPOCHS", "8"))
WORKER_TRIALS = int(os.environ.get("TUNE_BENCH_WORKER_TRIALS", "12"))
ARCH = "lstm"


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    out.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1")
    return out


def write_params(proj: Path, tune: dict[str, Any]) -> None:
    data = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    data["train"]["architectures"] = [ARCH]
    data["tune"].update({"architectures": [ARCH], "threads": 1, "timeout_s": 0, **tune})
    (proj / "params.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def demo_data(proj: Path) -> None:
    if (REPO / "data" / "processed" / "train.jsonl").is_file():
        shutil.copytree(REPO / "data" / "processed", proj / "data" / "processed")
        return
    for stage in ("scrape", "preprocess"):
        subprocess.run([sys.executable, "-m", f"pipeline.{stage}"], cwd=proj, env=env(), check=True)


def study(proj: Path, name: str, tune: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """One study in-process; its wall time and report."""
    from pipeline.config import load_params
    from pipeline.stages.tune import tune as run_tune

    write_params(proj, {"storage": f"sqlite:///{name}.db", **tune})
    started = time.perf_counter()
    report = run_tune(load_params(), ARCH)
    return time.perf_counter() - started, report  # type: ignore[return-value]


def workers(proj: Path, name: str, count: int) -> tuple[float, dict[str, Any]]:
    """``count`` worker processes on one study; their wall time, then the report of a finishing run."""
    tune = {
        "storage": f"sqlite:///{name}.db",
        "n_trials": WORKER_TRIALS,
        "max_epochs": 4,
        "pruner": "none",
        "sampler": "random",
        "search_space": {
            "train.lr": {"type": "log_float", "low": 0.001, "high": 0.03},
            "train.dropout": {"type": "float", "low": 0.1, "high": 0.6},
        },
    }
    write_params(proj, tune)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline.stages.tune", ARCH, "--worker", str(i + 1)],
            cwd=proj,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            sys.exit(f"worker failed:\n{err[-3000:]}")
    wall = time.perf_counter() - started
    from pipeline.config import load_params
    from pipeline.stages.tune import tune as run_tune

    return wall, run_tune(load_params(), ARCH)  # type: ignore[return-value]


def integrity(proj: Path, report: dict[str, Any], expected: int) -> dict[str, Any]:
    """Lost and duplicated trials, from the study and from the MLflow store."""
    import optuna
    from mlflow import MlflowClient

    numbers = [t["number"] for t in report["trials"]]
    with_result = [t for t in report["trials"] if t["state"] in ("COMPLETE", "PRUNED")]
    unfinished = [t for t in report["trials"] if t["state"] not in ("COMPLETE", "PRUNED", "FAIL")]
    client = MlflowClient(tracking_uri=f"sqlite:///{proj / 'mlflow.db'}")
    children = client.search_runs(
        [client.get_experiment_by_name("arabic-reviews").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{report['mlflow_parent_run_id']}'",
        max_results=10_000,
    )
    per_trial: dict[str, int] = {}
    for run in children:
        per_trial[run.data.tags["trial_number"]] = per_trial.get(run.data.tags["trial_number"], 0) + 1
    missing_numbers = set(range(max(numbers) + 1)) - set(numbers) if numbers else set()
    lost = (
        max(0, expected - len(with_result))
        + len(unfinished)
        + len(missing_numbers)
        + sum(1 for n in numbers if str(n) not in per_trial)
    )
    duplicated = (len(numbers) - len(set(numbers))) + sum(c - 1 for c in per_trial.values() if c > 1)
    trials = optuna.load_study(study_name=report["study_name"], storage=f"sqlite:///{proj / 'workers.db'}").trials
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    return {
        "trials_total": len(numbers),
        "with_result": len(with_result),
        "failed": report["states"]["FAIL"],
        "trials_lost": lost,
        "trials_duplicated": duplicated,
        "mlflow_child_runs": len(children),
        "trials_span_s": round((max(ends) - min(starts)).total_seconds(), 2) if starts and ends else None,
        "mean_trial_s": round(sum(t["duration_s"] or 0 for t in report["trials"]) / max(1, len(numbers)), 3),
    }


def main() -> None:
    import torch

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as tmp:
        proj = Path(tmp)
        os.chdir(proj)
        demo_data(proj)
        study(proj, "warmup", {"n_trials": 1, "max_epochs": 1})  # imports and first-fit costs, not measured
        common = {"n_trials": TRIALS, "max_epochs": EPOCHS, "sampler": "tpe"}
        wall_pruned, pruned = study(proj, "pruned", {**common, "pruner": "median"})
        wall_unpruned, unpruned = study(proj, "unpruned", {**common, "pruner": "none"})
        wall_one, one = workers(proj, "workers", 1)
        check_one = integrity(proj, one, WORKER_TRIALS)
        (proj / "workers.db").unlink()
        wall_two, two = workers(proj, "workers", 2)
        check_two = integrity(proj, two, WORKER_TRIALS)
    p = pruned["states"]
    figures = {
        "arch": ARCH,
        "trials": TRIALS,
        "epochs_per_trial": EPOCHS,
        "pruner": "median",
        "pruned_fraction": round(p["PRUNED"] / max(1, p["COMPLETE"] + p["PRUNED"]), 3),
        "wall_s_pruned": round(wall_pruned, 1),
        "wall_s_unpruned": round(wall_unpruned, 1),
        "wall_time_saved_fraction": round(1 - wall_pruned / wall_unpruned, 3),
        "epochs_run_pruned": sum(len(t["intermediate"]) for t in pruned["trials"]),
        "epochs_run_unpruned": sum(len(t["intermediate"]) for t in unpruned["trials"]),
        "best_val_f1_pruned": round(pruned["best"]["value"], 4),
        "best_val_f1_unpruned": round(unpruned["best"]["value"], 4),
        "worker_trials": WORKER_TRIALS,
        "one_worker_wall_s": round(wall_one, 1),
        "two_worker_wall_s": round(wall_two, 1),
        "two_worker_speedup": round(wall_one / wall_two, 3),
        "two_worker_trials_speedup": round(check_one["trials_span_s"] / check_two["trials_span_s"], 3)
        if check_one["trials_span_s"] and check_two["trials_span_s"]
        else None,
        "one_worker_trials_span_s": check_one["trials_span_s"],
        "two_worker_trials_span_s": check_two["trials_span_s"],
        "trials_lost": check_one["trials_lost"] + check_two["trials_lost"],
        "trials_duplicated": check_one["trials_duplicated"] + check_two["trials_duplicated"],
        "one_worker_check": check_one,
        "two_worker_check": check_two,
        "torch_threads_per_worker": 1,
        "cpu_count": os.cpu_count(),
        # other processes on the machine compete for the same cores: the 1-minute load before and after
        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    path = save("tuning", figures)
    print(f"Tuning on the demo data ({ARCH}), written to {path}")
    table(
        [
            ("trials (each study)", f"{TRIALS}, up to {EPOCHS} epochs"),
            ("pruned fraction (median pruner)", figures["pruned_fraction"]),
            ("wall s with / without pruning", f"{figures['wall_s_pruned']} / {figures['wall_s_unpruned']}"),
            ("wall time saved", f"{100 * figures['wall_time_saved_fraction']:.1f} %"),
            ("epochs run with / without", f"{figures['epochs_run_pruned']} / {figures['epochs_run_unpruned']}"),
            (
                "best val macro-F1 with / without",
                f"{figures['best_val_f1_pruned']} / {figures['best_val_f1_unpruned']}",
            ),
            ("worker trials", WORKER_TRIALS),
            ("1 worker / 2 workers wall s", f"{figures['one_worker_wall_s']} / {figures['two_worker_wall_s']}"),
            ("speed-up (1 thread per worker)", figures["two_worker_speedup"]),
            ("speed-up, first trial start to last end", figures["two_worker_trials_speedup"]),
            ("mean trial s, 1 / 2 workers", f"{check_one['mean_trial_s']} / {check_two['mean_trial_s']}"),
            ("trials lost / duplicated", f"{figures['trials_lost']} / {figures['trials_duplicated']}"),
            ("machine load (1 min) before / after", figures["load_average_1min"]),
        ]
    )


if __name__ == "__main__":
    main()
