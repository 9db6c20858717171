"""Pruning under DDP: a tuning trial with ``tune.trial_devices: 2`` is a ``ddp_spawn`` fit on two CPU processes
(gloo); rank 0 reports each epoch through the study's RDB storage, the pruner's decision stops both ranks, and the
trial ends PRUNED (or COMPLETE with the best epoch's value) in the study and in its MLflow run."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning.pytorch.callbacks import Callback

from pipeline.config import load_params
from tests.conftest import preprocessed_project

pytestmark = pytest.mark.distributed

OVERRIDES = {
    "train.architectures": ["gru"],
    "train.hidden_dim": 8,
    "train.embedding_dim": 8,
    "train.batch_size": 16,
    "preprocess.min_token_freq": 1,
    "tune.architectures": ["gru"],
    "tune.max_epochs": 3,
    "tune.trial_devices": 2,
    "tune.first_trial_defaults": False,
    "tune.search_space": {"train.lr": {"type": "log_float", "low": 0.001, "high": 0.05}},
}


class RankEpochs(Callback):
    """Leaves ``<rank>-<epoch>`` in a folder after each training epoch, from whichever process runs it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        (self.folder / f"{trainer.global_rank}-{trainer.current_epoch}").touch()


def run_one_trial(tmp_path: Path, pruner) -> tuple:
    """One trial of a study with ``pruner`` in a SQLite storage, through the tune stage's objective."""
    import optuna

    from pipeline.tuning.data import TrialData
    from pipeline.tuning.objective import Objective
    from pipeline.tuning.runs import client_for, parent_run
    from pipeline.tuning.study import make_storage

    params = load_params()
    marks = tmp_path / "marks"
    marks.mkdir()
    storage = make_storage(params, f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(storage=storage, study_name="ddp", direction="maximize", pruner=pruner)
    client, experiment_id = client_for(params)
    parent = parent_run(client, experiment_id, study, "gru", params)
    objective = Objective(params, "gru", TrialData(params.base.processed_dir), client, experiment_id, parent)
    objective.callbacks = [RankEpochs(marks)]
    study.optimize(objective, n_trials=1, catch=())  # an error in a rank fails the test, not just the trial
    trial = study.trials[0]
    run = client.get_run(trial.user_attrs["mlflow_run_id"])
    return trial, sorted(p.name for p in marks.iterdir()), run


@pytest.fixture
def project(tmp_path: Path):
    with preprocessed_project(tmp_path, OVERRIDES, 90):
        yield tmp_path


def test_a_pruned_ddp_trial_stops_both_ranks_and_ends_pruned(project: Path) -> None:
    import optuna

    # a threshold no macro-F1 reaches: the pruner stops the trial at the first report (epoch 0)
    trial, marks, run = run_one_trial(project, optuna.pruners.ThresholdPruner(lower=1.01, n_warmup_steps=0))
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0] and 0 <= trial.intermediate_values[0] <= 1
    assert marks == ["0-0", "1-0"]  # both ranks trained epoch 0, neither went on
    assert run.data.tags["state"] == "pruned"
    assert run.data.metrics["val/f1_macro"] == pytest.approx(trial.intermediate_values[0])


def test_an_unpruned_ddp_trial_completes_with_its_best_epoch(project: Path) -> None:
    import optuna

    trial, marks, run = run_one_trial(project, optuna.pruners.NopPruner())
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [0, 1, 2]
    assert trial.value == pytest.approx(max(trial.intermediate_values.values()))
    assert marks == ["0-0", "0-1", "0-2", "1-0", "1-1", "1-2"]
    assert run.data.tags["state"] == "complete"
