"""Benchmark: our Lightning training (ClassifierModule + Trainer) against a plain PyTorch loop.

The same LSTM (``build_network("lstm", …)`` with the default ``train`` params), the same initial
weights and the same pre-built batches (one DataLoader over a fixed list) on CPU: Adam, cross-entropy,
gradient-norm clipping at ``train.grad_clip``. The plain loop does only that; the Lightning side is
exactly what the train stage runs per step (torchmetrics updates and ``self.log`` included, through the
project's one fit), with validation, checkpoints and loggers off so that only the training loop is compared.
Each side runs one warm-up epoch, then ``EPOCHS`` timed epochs; the figure is the median epoch.
Sides alternate (plain, Lightning, plain, Lightning) in one process, so both see the same machine.
Writes ``reports/bench/lightning_overhead.json``; target ratio (Lightning / plain) ≥ 0.95.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import save, table

from pipeline.config import TrainParams
from pipeline.models.networks import collate
from pipeline.training.module import ClassifierModule

DOCS = int(os.environ.get("OVERHEAD_DOCS", "4096"))
EPOCHS = int(os.environ.get("OVERHEAD_EPOCHS", "3"))
ROUNDS = 2
VOCAB, CLASSES, SEED = 5000, 3, 0


def batches(tp: TrainParams) -> list[dict[str, torch.Tensor]]:
    """Fixed batches of token ids (lengths 10..max_length, Zipf-like ids), built once."""
    rng = random.Random(SEED)
    items = []
    for _ in range(DOCS):
        length = rng.randint(10, min(120, tp.max_length))
        ids = [min(VOCAB - 1, 2 + int(rng.paretovariate(1.0))) for _ in range(length)]
        items.append((ids, rng.randrange(CLASSES)))
    return [collate(items[i : i + tp.batch_size]) for i in range(0, len(items), tp.batch_size)]


def plain_epochs(module: ClassifierModule, loader: DataLoader, tp: TrainParams) -> list[float]:
    """Seconds per epoch of a hand-written loop on the module's network."""
    net = module.net
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=tp.lr, weight_decay=tp.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(EPOCHS + 1):
        started = time.perf_counter()
        for batch in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(batch["ids"], batch["lengths"]), batch["labels"])
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), tp.grad_clip)
            optimizer.step()
        times.append(time.perf_counter() - started)
    return times[1:]


def lightning_epochs(module: ClassifierModule, loader: DataLoader, tp: TrainParams) -> list[float]:
    """Seconds per epoch of the project's one fit (``pipeline.training.fit``: the Trainer every stage uses)
    on our ClassifierModule, epoch start to epoch end, without validation, checkpoints or MLflow."""
    import lightning as L

    from pipeline.config import BaseParams
    from pipeline.training.fit import FitSpec, fit

    times: list[float] = []

    class Timer(L.Callback):
        def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self.started = time.perf_counter()

        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            times.append(time.perf_counter() - self.started)

    # the plain loop's thread count, fixed: only the loops differ (no adaptive thread governor)
    section = tp.model_copy(
        update={"accelerator": "cpu", "max_epochs": EPOCHS + 1, "num_threads": torch.get_num_threads()}
    )
    spec = FitSpec(name="overhead", stage="bench", monitor=None)
    fit(module, (loader, None), section, BaseParams(), spec, callbacks=[Timer()])
    return times[1:]


def main() -> None:
    logging.getLogger("lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    tp = TrainParams()
    data = batches(tp)
    loader = DataLoader(data, batch_size=None, shuffle=False, num_workers=0)
    samples = sum(len(b["labels"]) for b in data)
    plain: list[float] = []
    lightning: list[float] = []
    for _ in range(ROUNDS):
        for side, runner in (("plain", plain_epochs), ("lightning", lightning_epochs)):
            torch.manual_seed(SEED)  # the same initial weights on both sides
            module = ClassifierModule("lstm", VOCAB, CLASSES, tp.model_dump())
            (plain if side == "plain" else lightning).extend(runner(module, loader, tp))
    plain_sps = samples / statistics.median(plain)
    lightning_sps = samples / statistics.median(lightning)
    figures = {
        "model": "lstm",
        "train_params": {k: tp.model_dump()[k] for k in ("embedding_dim", "hidden_dim", "batch_size", "grad_clip")},
        "documents": samples,
        "batches_per_epoch": len(data),
        "timed_epochs_per_side": len(plain),
        "torch_threads": torch.get_num_threads(),
        "plain_samples_per_s": round(plain_sps, 1),
        "lightning_samples_per_s": round(lightning_sps, 1),
        "ratio": round(lightning_sps / plain_sps, 3),
        "target_ratio": 0.95,
        "plain_epoch_s": [round(t, 3) for t in plain],
        "lightning_epoch_s": [round(t, 3) for t in lightning],
    }
    path = save("lightning_overhead", figures)
    print("Lightning overhead (same LSTM, same batches, CPU, median epoch)")
    table(
        [
            ("plain PyTorch, samples/s", figures["plain_samples_per_s"]),
            ("Lightning (ours), samples/s", figures["lightning_samples_per_s"]),
            ("ratio (target >= 0.95)", figures["ratio"]),
            ("written", path),
        ]
    )


if __name__ == "__main__":
    main()
