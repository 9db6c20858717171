"""Run provenance (git commit, versions) and MLflow helpers: one store for the whole repo."""

from __future__ import annotations

import logging
import os
import platform
import signal
import socket
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.config import BaseParams

if TYPE_CHECKING:
    from pipeline.config import Params

# Read once at import: mlflow.set_tracking_uri() writes MLFLOW_TRACKING_URI into os.environ, so a later
# read would see the last store this process used rather than the user's choice.
USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")
log = logging.getLogger("tracking")
PACKAGES = ("torch", "lightning", "torchmetrics", "mlflow", "dvc", "scrapy", "numpy", "scikit-learn")


def git_commit() -> str:
    """The current commit (with ``-dirty`` if the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(seed: int) -> dict[str, object]:
    return {"seed": seed, "git_commit": git_commit(), "versions": versions()}


def provenance_tags(seed: int) -> dict[str, str]:
    """Flat MLflow tags: ``git_commit``, ``seed`` and ``version.<package>``."""
    prov = provenance(seed)
    tags = {"git_commit": str(prov["git_commit"]), "seed": str(seed), **owner_tags()}
    tags.update({f"version.{k}": v for k, v in prov["versions"].items()})  # type: ignore[union-attr]
    return tags


def setup_mlflow(base: BaseParams) -> str:
    """Point MLflow at the repo's store and experiment; return the experiment id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    uri = tracking_uri(base)
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment(base.mlflow_experiment)
    if (uri, experiment.experiment_id) not in _STORES:
        _STORES.add((uri, experiment.experiment_id))
        reap_orphans(mlflow.MlflowClient(uri), experiment.experiment_id)
    return experiment.experiment_id


def tracking_uri(base: BaseParams) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``base.mlflow_tracking_uri``; a relative SQLite path is made
    absolute (MLflow caches stores by URI, so a relative one would follow the first working directory)."""
    uri = USER_TRACKING_URI or base.mlflow_tracking_uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        uri = prefix + str(Path.cwd() / uri[len(prefix) :])
    return uri


def flat_params(params: Params, sections: tuple[str, ...] = ("base", "preprocess", "train")) -> dict[str, Any]:
    """``{"train.lr": 0.003, …}`` for the given sections (lists kept as strings)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            out[prefix] = value if isinstance(value, int | float | str | bool) else str(value)

    dumped = params.model_dump()
    for section in sections:
        walk(section, dumped[section])
    return out


# --- Run status on faults ------------------------------------------------------------------------------------
# Every run a stage starts carries owner tags (this process's pid, host and start time). When the stage ends on an
# exception its RUNNING runs end FAILED, on SIGTERM/SIGINT KILLED (:func:`end_own_runs`, called by ``cli.run``);
# runs left RUNNING by a process that is gone (SIGKILL, power loss) are ended KILLED by the next process that
# sets up the same experiment on the same host (:func:`reap_orphans`).
OWNER_PID, OWNER_HOST, OWNER_START = "owner_pid", "owner_host", "owner_start"
ENDED_BY = "ended_by"  # tag: why the pipeline (not the run's own code) ended the run
_STORES: set[tuple[str, str]] = set()  # (tracking URI, experiment id) this process has set up
_STOP: dict[str, float] = {}  # "signal": the number, "at_ms": when it came


class Stopped(KeyboardInterrupt):
    """Raised by the signal handlers: a KeyboardInterrupt, so code that cleans up after Ctrl-C (Lightning,
    Optuna, the trial runs) does the same for SIGTERM."""


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), ``""`` where unknown:
    with the pid it tells a live owner from a later process that reuses its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tags() -> dict[str, str]:
    """``owner_pid``, ``owner_host``, ``owner_start`` of this process."""
    pid = os.getpid()
    return {OWNER_PID: str(pid), OWNER_HOST: socket.gethostname(), OWNER_START: _start_ticks(pid)}


def owner_alive(tags: dict[str, str]) -> bool | None:
    """Whether the process named by a run's owner tags still runs; None when it cannot be told (no tags, or
    another host)."""
    pid = tags.get(OWNER_PID, "")
    if not pid.isdigit() or tags.get(OWNER_HOST) != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    start = tags.get(OWNER_START, "")
    return not start or _start_ticks(int(pid)) in ("", start)


def claim_run(client: Any, run_id: str) -> None:
    """Reopen ``run_id`` (a resumed training or study) as this process's: status RUNNING, owner tags updated."""
    for key, value in owner_tags().items():
        client.set_tag(run_id, key, value)
    client.update_run(run_id, status="RUNNING")


def reap_orphans(client: Any, experiment_id: str) -> list[str]:
    """End KILLED the RUNNING runs of the experiment whose owner process is gone; return their ids."""
    try:
        running = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000)
    except Exception as err:  # a store that cannot be searched must not stop the stage
        log.warning("cannot look for orphaned MLflow runs: %s", str(err).splitlines()[0] if str(err) else err)
        return []
    reaped = []
    for run in running:
        if owner_alive(run.data.tags) is False:
            note = f"its process {run.data.tags[OWNER_PID]} was gone when process {os.getpid()} started"
            client.set_tag(run.info.run_id, ENDED_BY, note)
            client.set_terminated(run.info.run_id, "KILLED")
            reaped.append(run.info.run_id)
    if reaped:
        log.warning("marked %d MLflow run(s) KILLED: left RUNNING by a process that is gone", len(reaped))
    return reaped


def install_signal_handlers() -> None:
    """SIGTERM and SIGINT raise :class:`Stopped` (once: a second signal during the clean-up is only noted)."""

    def handler(signum: int, frame: Any) -> None:
        if _STOP:
            return
        _STOP.update({"signal": signum, "at_ms": time.time_ns() // 1_000_000})  # MLflow times: whole ms
        raise Stopped(signal.Signals(signum).name)

    _STOP.clear()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def stop_signal() -> int | None:
    """The signal that stopped this process (see :func:`install_signal_handlers`), else None."""
    return int(_STOP["signal"]) if _STOP else None


def end_own_runs(status: str, reason: str) -> list[str]:
    """End ``status`` (FAILED or KILLED) every run this process owns that is still RUNNING, in every store it set
    up (fluent active runs first); when stopped by a signal, runs a ``with mlflow.start_run()`` block ended FAILED
    while unwinding become KILLED. Returns the run ids ended."""
    import sys

    if "mlflow" not in sys.modules:
        return []
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run(status)
    ended: list[str] = []
    me = owner_tags()
    wanted = ("RUNNING", "FAILED") if status == "KILLED" else ("RUNNING",)
    for uri, experiment_id in sorted(_STORES):
        client = mlflow.MlflowClient(uri)
        try:
            runs = [
                run
                for state in wanted
                for run in client.search_runs(
                    [experiment_id],
                    filter_string=f"tags.{OWNER_PID} = '{me[OWNER_PID]}' and attributes.status = '{state}'",
                    max_results=5000,
                )
            ]
            for run in runs:
                tags = run.data.tags
                if tags.get(OWNER_HOST) != me[OWNER_HOST] or tags.get(OWNER_START) != me[OWNER_START]:
                    continue
                if run.info.status == "FAILED" and (run.info.end_time or 0) < _STOP.get("at_ms", float("inf")):
                    continue  # failed on its own before the signal
                client.set_tag(run.info.run_id, ENDED_BY, reason[:5000])
                client.set_terminated(run.info.run_id, status)
                ended.append(run.info.run_id)
        except Exception as err:  # the store itself may be what failed
            log.warning("could not end this process's MLflow runs in %s: %s", uri, str(err).splitlines()[0])
    return ended
