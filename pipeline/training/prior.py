"""Prior correction chosen on validation: per-class offsets added to a trained network's logits.

A classifier trained on imbalanced data can lean too far towards the large classes (below the
majority-class baseline's accuracy with a poor macro-F1) or ignore the small ones. The correction adds
``-alpha * log(train prior)`` (centred) to the logits, for one ``alpha`` of :data:`ALPHAS` chosen on the
validation split: the best validation macro-F1 among the candidates whose validation accuracy reaches the
majority-class baseline's (or, when none does, the best validation accuracy). Negative ``alpha`` moves
decisions towards the large classes, positive towards the small ones, 0 changes nothing. The chosen offsets
are folded into the output layer's bias of the saved checkpoint, so every path that loads the model
(evaluate, export, serve, the registry's pyfunc) applies them. On balanced classes every offset is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ALPHAS = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
HEAD_BIAS = "net.head.bias"  # the output layer's bias in a train-stage checkpoint (TextClassifier.head)


def _macro_f1(y: np.ndarray, pred: np.ndarray, num_classes: int) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y, pred, labels=list(range(num_classes)), average="macro", zero_division=0))


def choose_offsets(
    val_logits: np.ndarray, val_labels: Sequence[int], train_labels: Sequence[int], num_classes: int
) -> dict[str, Any]:
    """The chosen ``alpha``, its per-class ``offsets`` and the validation accuracy / macro-F1 before and after,
    with the majority-class baseline's validation accuracy (the train split's largest class)."""
    y = np.asarray(val_labels, dtype=int)
    counts = np.bincount(np.asarray(train_labels, dtype=int), minlength=num_classes).astype(float)
    log_prior = np.log((counts + 1.0) / (counts.sum() + num_classes))  # add-one: an absent class stays finite
    centred = log_prior - log_prior.mean()
    majority = float(np.mean(y == int(np.argmax(counts)))) if len(y) else 0.0
    candidates = []
    for alpha in ALPHAS:
        offsets = -alpha * centred
        pred = np.argmax(val_logits + offsets, axis=1)
        acc = float(np.mean(pred == y)) if len(y) else 0.0
        candidates.append((alpha, offsets, acc, _macro_f1(y, pred, num_classes) if len(y) else 0.0))
    plain = next(c for c in candidates if c[0] == 0.0)
    eligible = [c for c in candidates if c[2] >= majority]
    # ties go to the smaller correction (0 first): no change unless validation shows one helps
    if eligible:
        chosen = max(eligible, key=lambda c: (round(c[3], 9), -abs(c[0])))
    else:
        chosen = max(candidates, key=lambda c: (round(c[2], 9), -abs(c[0])))
    if not np.any(chosen[1]):  # balanced classes: every offset is 0 whatever alpha says
        chosen = plain
    return {
        "alpha": chosen[0],
        "offsets": [round(float(o), 6) + 0.0 for o in chosen[1]],  # + 0.0: no -0.0 in run.json
        "val_accuracy_before": round(plain[2], 6),
        "val_f1_macro_before": round(plain[3], 6),
        "val_accuracy": round(chosen[2], 6),
        "val_f1_macro": round(chosen[3], 6),
        "majority_val_accuracy": round(majority, 6),
    }


def validation_logits(network: Any, items: Sequence[tuple[list[int], int]], batch_size: int = 64) -> np.ndarray:
    """Logits of a train-stage network (a module called with ``ids``/``lengths``) over encoded items."""
    import torch

    from pipeline.models.networks import collate

    network = network.to("cpu").eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            b = collate([items[i] for i in range(start, min(start + batch_size, len(items)))])
            out.append(network(b["ids"], b["lengths"]).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def fold_into_checkpoint(path: Path, offsets: Sequence[float]) -> None:
    """Add ``offsets`` to the output bias stored in the Lightning checkpoint at ``path`` (atomically)."""
    import torch

    from pipeline.training.fit import rewrite_checkpoint

    def edit(ckpt: dict[str, Any]) -> None:
        bias = ckpt["state_dict"][HEAD_BIAS]
        ckpt["state_dict"][HEAD_BIAS] = bias + torch.as_tensor(list(offsets), dtype=bias.dtype)

    rewrite_checkpoint(path, edit)
