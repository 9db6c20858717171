"""The CPU thread policy: how many threads a training or inference process uses, chosen in one place.

Measured on a 2-core machine (``bench/bench_contention.py``): a 2-thread torch training loses most of its
speed when another process holds one of the cores, because every parallel region waits for the thread
that shares a core with the other process, while one thread would have run at nearly full speed. Idle,
2 threads are faster than one. So:

- **intra-op threads** start at the cores this process may use (``os.sched_getaffinity``), divided among
  the processes that share them (CPU DDP processes, parallel tuning workers), at least 1;
- **adaptive** (trainings with ``base.deterministic: false``, and the servers): while a fit runs, :class:`CpuLoad`
  measures every second how many of those cores other processes keep busy (``/proc/stat`` minus this process's
  own CPU time) and the fit's thread governor (``pipeline.training.callbacks.ThreadGovernor``) lowers the
  thread count to the free cores, and raises it again when they free up;
- a fixed count instead: the trainer param ``num_threads`` (> 0) or the environment variable
  ``PIPELINE_NUM_THREADS`` (which wins);
- **reproducible trainings** (every fit — classifiers, tuning trials, pretraining, fine-tuning, language
  models — and the generate stage, with ``base.deterministic``, the default) take a fixed count, 1 unless one
  is set (:func:`reproducible_threads`): CPU kernels split their sums among the threads, so the same training
  with 1 and with 2 threads ends with different weights (measured: up to 1.2e-5 apart after two epochs of the
  default-size GPT-2; classifier checkpoints 1e-6 apart after 4 steps), and an adaptive count made the result
  depend on the machine's load. One thread is also what a busy core leaves at full speed, and the demo's
  networks train as fast on one thread as on two here (GRU: 13.3 s both);
- **one inter-op thread** (the pipeline runs no parallel graph branches) and DataLoader workers from the
  trainer param ``num_workers`` (0 by default: the data are small and tokenised ahead).

The OpenMP wait policy is left at the runtime's default (spin briefly, then sleep): measured,
``OMP_WAIT_POLICY=PASSIVE`` cut the idle LSTM language-model throughput about 4× (threads that sleep at
once pay a wake-up at every one of the many small parallel regions), and a shorter ``GOMP_SPINCOUNT`` did
not help under contention. Fewer threads is what helps.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

ENV_THREADS = "PIPELINE_NUM_THREADS"
PROC_STAT = Path("/proc/stat")

log = logging.getLogger("runtime")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def fixed_threads(requested: int = 0) -> int | None:
    """A fixed intra-op thread count: ``$PIPELINE_NUM_THREADS``, else ``requested`` when > 0; None means
    adaptive."""
    env = os.environ.get(ENV_THREADS, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"{ENV_THREADS}={env!r}: expected a whole number of threads ≥ 1") from None
        if value < 1:
            raise ValueError(f"{ENV_THREADS}={env!r}: expected a whole number of threads ≥ 1")
        return value
    return requested if requested > 0 else None


def intra_op_threads(requested: int = 0, processes: int = 1) -> int:
    """The starting intra-op thread count: the fixed one, else the available cores shared out among
    ``processes`` processes (at least one thread each)."""
    fixed = fixed_threads(requested)
    return fixed if fixed is not None else max(1, available_cores() // max(1, processes))


def reproducible_threads(requested: int, deterministic: bool) -> int:
    """The intra-op thread count of a stage whose outputs must not depend on the load: ``requested`` when
    > 0, else 1 under ``deterministic`` (0, adaptive, otherwise). ``$PIPELINE_NUM_THREADS`` still wins."""
    return requested if requested > 0 or not deterministic else 1


@dataclass(frozen=True)
class ThreadSettings:
    """What :func:`apply_thread_policy` set (recorded in run records and benchmarks)."""

    intra_op: int
    inter_op: int
    adaptive: bool
    cores: int

    def as_dict(self) -> dict[str, object]:
        return {
            "intra_op_threads": self.intra_op,
            "inter_op_threads": self.inter_op,
            "adaptive": self.adaptive,
            "cores": self.cores,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(runtime default)"),
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
    return ThreadSettings(
        intra_op=torch.get_num_threads(),
        inter_op=torch.get_num_interop_threads(),
        adaptive=fixed_threads(requested) is None,
        cores=available_cores(),
    )


class CpuLoad:
    """How many of this process's cores other processes keep busy, between two calls of :meth:`others`.

    Reads the per-core counters of ``/proc/stat`` for the cores of this process's affinity and subtracts this
    process's own CPU time; ``None`` where ``/proc/stat`` cannot be read (not Linux)."""

    def __init__(self) -> None:
        try:
            self.cores = sorted(os.sched_getaffinity(0))
        except AttributeError:
            self.cores = []
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        """(busy jiffies, total jiffies over our cores, own CPU seconds) now."""
        try:
            lines = PROC_STAT.read_text().splitlines()
        except OSError:
            return None
        wanted = {f"cpu{c}" for c in self.cores}
        busy = total = 0.0
        for line in lines:
            name, *fields = line.split()
            if name in wanted:
                values = [float(v) for v in fields[:8]]
                idle = values[3] + values[4]  # idle + iowait
                total += sum(values)
                busy += sum(values) - idle
        return busy, total, time.process_time()

    def others(self, min_window_s: float = 0.1) -> float | None:
        """Cores other processes kept busy since the previous measurement (or construction); None when
        less than ``min_window_s`` has passed (the window then keeps growing) or nothing can be read."""
        now, last = self._sample(), self._last
        if now is None or last is None:
            return None
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        wall = (now[1] - last[1]) / hz / max(1, len(self.cores))
        if wall < min_window_s:
            return None
        self._last = now
        share = (now[0] - last[0]) / (now[1] - last[1])  # busy share of our cores
        own = (now[2] - last[2]) / wall
        return max(0.0, share * len(self.cores) - own)


TAKEN_FROM = 0.25  # a core counts as taken by other processes from this much busy time on


def threads_for_load(ceiling: int, busy_elsewhere: float) -> int:
    """Threads to use when other processes keep ``busy_elsewhere`` cores busy: the free cores, at most
    ``ceiling``, at least 1. A core counts as taken from :data:`TAKEN_FROM` busy: our own spinning threads
    crowd a competitor out, so a process that holds a whole core when we run one thread shows as about
    0.45 of a core while we run two (measured); an idle machine shows about 0.03."""
    return max(1, min(ceiling, available_cores() - int(busy_elsewhere + 1 - TAKEN_FROM)))
