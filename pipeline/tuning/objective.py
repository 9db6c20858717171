"""One Optuna trial: sample params, train the network on train, score it on val each epoch.

The trial's value is its best validation macro-F1 over the epochs (what the final training keeps as
``best.ckpt``). ``val/f1_macro`` is reported to Optuna after every validation by
``optuna_integration.PyTorchLightningPruningCallback`` (which uses ``lightning.pytorch``), so the pruner
can stop a poor trial early. A non-finite training loss stops the trial with :class:`FloatingPointError`;
any exception is recorded on the trial (``fail_reason``) and in its MLflow run, and re-raised so Optuna
marks the trial FAIL (the study catches it and goes on).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from typing import Any

from pipeline.config import Params
from pipeline.tracking import Stopped, stop_signal
from pipeline.training.fit import CLASSIFIER_MONITOR as MONITOR
from pipeline.tuning.data import TrialData
from pipeline.tuning.runs import RUN_ATTR, TrialRun
from pipeline.tuning.space import override, preprocess_keys, suggest
from pipeline.tuning.study import SURPLUS_ATTR, WORKER_ATTR, is_surplus


class SurplusTrial(RuntimeError):
    """A trial started after ``tune.n_trials`` were taken: it ends FAIL at once (not counted as a failure)."""


class ListDataset:
    """A list of (ids, label) pairs as a map-style dataset."""

    def __init__(self, items: list[tuple[list[int], int]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.items[i]


def _epoch_log(run: TrialRun, curve: list[float]) -> Any:
    from lightning.pytorch.callbacks import Callback

    class EpochLog(Callback):
        """Per-epoch validation metrics into the trial's MLflow run (before the pruning callback acts)."""

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
            if MONITOR in metrics:
                curve.append(metrics[MONITOR])
                run.log_epoch(trainer.current_epoch, metrics)

    return EpochLog()


def _ddp_curve(trial: Any, pruning: Any, run: TrialRun) -> list[float]:
    """After a distributed trial: the per-epoch ``val/f1_macro`` rank 0 stored in the trial (the processes that
    trained are gone), logged to the trial's MLflow run; raises ``TrialPruned`` if the pruner stopped it."""
    storage = trial.study._storage
    stored = getattr(storage, "_backend", storage).get_trial_system_attrs(trial._trial_id)  # not the cache
    stored = stored.get("ddp_pl:intermediate_value") or {}
    curve = [float(v) for _, v in sorted((int(k), v) for k, v in stored.items())]
    for epoch, value in enumerate(curve):
        run.log_epoch(epoch, {MONITOR: value})
    pruning.check_pruned()
    return curve


def fit_trial(
    trial: Any, params: Params, arch: str, data: TrialData, run: TrialRun, extra_callbacks: Sequence[Any] = ()
) -> float:
    """Train ``arch`` with ``params`` (the trial's) on train, validate each epoch; best val macro-F1.

    The module, its embeddings (``train.embedding_init``, frozen or not) and the out-of-vocabulary mapping
    are built as the train stage builds them; the fit is the one fit, without checkpoints."""
    import lightning as L
    from optuna_integration import PyTorchLightningPruningCallback

    from pipeline.training.callbacks import FiniteLoss
    from pipeline.training.classifier import build_classifier, word_vectors
    from pipeline.training.data import loader
    from pipeline.training.fit import FitSpec, fit

    base = params.base
    # tune.trial_devices > 1: a ddp_spawn fit (the processes start and end inside the trial); else one process
    ddp = params.tune.trial_devices > 1
    tp = params.train.model_copy(
        update={
            "devices": params.tune.trial_devices,
            "num_nodes": 1,
            "strategy": "ddp_spawn" if ddp else "auto",
        }
    )
    tuned_pp = bool(preprocess_keys(trial.params))
    tok = data.tokenised(params.preprocess if tuned_pp else None)
    L.seed_everything(base.seed, workers=True, verbose=False)
    vectors, unknown = word_vectors(tp, base.models_dir, tok.vocab)
    train_items = tok.items("train", tp.max_length, unknown)
    val_items = tok.items("val", tp.max_length, unknown)
    module = build_classifier(arch, tok.vocab, data.num_classes, tp, vectors, base.seed, tok.labels["train"])
    loaders = (
        loader(ListDataset(train_items), tp.batch_size, True, tp.num_workers),
        loader(ListDataset(val_items), 64, False, tp.num_workers),
    )
    curve: list[float] = []
    spec = FitSpec(name=f"trial-{trial.number}", stage="tune", monitor=MONITOR, num_threads=params.tune.threads)
    pruning = PyTorchLightningPruningCallback(trial, monitor=MONITOR)
    # the MLflow logging callback stays in this process under DDP (the spawned ranks get pickled copies)
    callbacks = [*([] if ddp else [_epoch_log(run, curve)]), FiniteLoss(), pruning, *extra_callbacks]
    fit(module, loaders, tp, base, spec, callbacks=callbacks)
    if ddp:
        curve = _ddp_curve(trial, pruning, run)
    if not curve:
        raise RuntimeError("the trial ran no validation epoch")
    return max(curve)


class Objective:
    """The study's objective: ``params`` fixed, the search space sampled per trial."""

    def __init__(
        self,
        params: Params,
        arch: str,
        data: TrialData,
        client: Any,
        experiment_id: str,
        parent_id: str,
        callbacks: Sequence[Any] = (),
    ) -> None:
        self.params, self.arch, self.data = params, arch, data
        self.client, self.experiment_id, self.parent_id = client, experiment_id, parent_id
        self.callbacks = callbacks

    def __call__(self, trial: Any) -> float:
        import optuna

        if is_surplus(trial, self.params.tune.n_trials):  # another worker took the last slot at the same moment
            reason = f"surplus: tune.n_trials={self.params.tune.n_trials} trials were already done or running"
            trial.set_user_attr(SURPLUS_ATTR, True)
            trial.set_user_attr("fail_reason", reason)
            raise SurplusTrial(reason)
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")  # who runs it (tests, post-mortems)
        overrides = suggest(trial, self.params.tune.search_space)
        run = TrialRun(self.client, self.experiment_id, self.parent_id, trial.number, trial.study.study_name)
        trial.set_user_attr(RUN_ATTR, run.run_id)
        run.log_params({**overrides, "arch": self.arch, "tune.max_epochs": self.params.tune.max_epochs})
        started = time.perf_counter()
        try:
            trial_params = override(self.params, {**overrides, "train.max_epochs": self.params.tune.max_epochs})
            value = fit_trial(trial, trial_params, self.arch, self.data, run, self.callbacks)
        except optuna.TrialPruned:
            run.finish("pruned")
            trial.set_user_attr("duration_s", round(time.perf_counter() - started, 3))
            raise
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"
            trial.set_user_attr("fail_reason", reason)
            run.finish("fail", reason=reason)
            raise
        except BaseException as err:  # Ctrl-C, SIGTERM: the trial is lost, its run says so
            run.finish("killed")
            if isinstance(err, SystemExit) and stop_signal() is not None:
                # Lightning turns the signal's KeyboardInterrupt into SystemExit(1); Optuna marks the trial FAIL
                # only on an exception or a KeyboardInterrupt, so hand it one (else the trial stays RUNNING).
                raise Stopped(f"signal {stop_signal()}") from None
            raise
        trial.set_user_attr("duration_s", round(time.perf_counter() - started, 3))
        run.finish("complete", value=value)
        return value
