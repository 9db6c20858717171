"""Which process of a multi-process (DDP/FSDP) training this is, known before the ``Trainer`` exists.

Every process of a distributed training runs the whole stage (Lightning's ``ddp`` re-runs the command once per
extra device; ``torchrun`` and SLURM ``srun`` start one per device themselves); only global rank 0 writes files:
the training state, checkpoints (Lightning saves on rank 0), the run record and the MLflow run. The other ranks
train and return without a record.
"""

from __future__ import annotations

import os
from typing import Any


def global_rank(devices: Any = 1) -> int:
    """This process's global rank: ``RANK`` (torchrun), else ``NODE_RANK * devices + LOCAL_RANK`` (Lightning's
    ``ddp`` launcher and its children), else ``SLURM_PROCID`` (srun, one task per device); 0 when alone."""
    env = os.environ
    if env.get("RANK", "").isdigit():
        return int(env["RANK"])
    if env.get("LOCAL_RANK", "").isdigit():
        local, node = int(env["LOCAL_RANK"]), int(env.get("NODE_RANK", "0") or 0)
        return node * devices + local if isinstance(devices, int) else local
    return int(env["SLURM_PROCID"]) if env.get("SLURM_PROCID", "").isdigit() else 0


def is_rank_zero(section: Any) -> bool:
    """Whether this process writes the files of a training with ``section``'s trainer keys."""
    return global_rank(getattr(section, "devices", 1)) == 0
