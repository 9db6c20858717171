"""The CPU thread policy, set in one place before any training or inference starts.

Measured on a 2-core machine (``bench/bench_contention.py``): torch's OpenMP threads spin-wait for a core
by default, so when any other process holds a core a 2-thread training collapses 10–60×. The policy:

- ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads sleep instead of spinning. It must be in the
  environment before the OpenMP runtime loads, so :mod:`pipeline` sets it (unless already set) when the
  package is imported, before anything imports torch.
- intra-op threads = the cores this process may use (``os.sched_getaffinity``) divided by the processes
  that share them (parallel tuning workers, DDP processes on one machine), at least 1; the trainer param
  ``num_threads`` (> 0) or the environment variable ``PIPELINE_NUM_THREADS`` overrides it.
- one inter-op thread (the pipeline runs no parallel graph branches) and DataLoader workers from the
  trainer param ``num_workers`` (0 by default: the data are small and tokenised ahead).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

ENV_THREADS = "PIPELINE_NUM_THREADS"
WAIT_POLICY = "PASSIVE"

log = logging.getLogger("runtime")


def set_wait_policy() -> None:
    """Sleeping (not spinning) OpenMP threads, unless the user chose a policy; call before torch loads."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def intra_op_threads(requested: int = 0, processes: int = 1) -> int:
    """The intra-op thread count: ``$PIPELINE_NUM_THREADS``, else ``requested`` (> 0), else the available
    cores shared out among ``processes`` processes (at least one thread each)."""
    env = os.environ.get(ENV_THREADS, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"{ENV_THREADS}={env!r}: expected a whole number of threads ≥ 1") from None
        if value < 1:
            raise ValueError(f"{ENV_THREADS}={env!r}: expected a whole number of threads ≥ 1")
        return value
    if requested > 0:
        return requested
    return max(1, available_cores() // max(1, processes))


@dataclass(frozen=True)
class ThreadSettings:
    """What :func:`apply_thread_policy` set (recorded in run records and benchmarks)."""

    intra_op: int
    inter_op: int
    omp_wait_policy: str
    cores: int

    def as_dict(self) -> dict[str, object]:
        return {
            "intra_op_threads": self.intra_op,
            "inter_op_threads": self.inter_op,
            "omp_wait_policy": self.omp_wait_policy,
            "cores": self.cores,
        }


def apply_thread_policy(requested: int = 0, processes: int = 1) -> ThreadSettings:
    """Set torch's intra- and inter-op threads for this process (see the module docstring)."""
    import torch

    threads = intra_op_threads(requested, processes)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        if torch.get_num_interop_threads() != 1:
            torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first inter-op parallel work of the process
        pass
    settings = ThreadSettings(
        intra_op=torch.get_num_threads(),
        inter_op=torch.get_num_interop_threads(),
        omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", ""),
        cores=available_cores(),
    )
    log.debug("thread policy: %s", settings)
    return settings
