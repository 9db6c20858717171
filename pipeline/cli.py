"""Shared entry-point plumbing: clean one-line errors instead of tracebacks for bad input."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable

from pipeline.config import ParamsError
from pipeline.data.jsonl import DataError


class StageError(RuntimeError):
    """A stage could not produce its outputs (for example a crawl that found nothing)."""


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Libraries whose INFO lines are chatter for a pipeline run (Scrapy's banner and per-request lines, Lightning's
# device and tip lines, MLflow's and alembic's store set-up): shown with -v, DEBUG with -vv.
LIBRARIES = (
    *("scrapy", "twisted", "lightning", "mlflow", "alembic", "optuna", "urllib3", "filelock", "huey", "onnxruntime"),
)
SITE_PACKAGES = ("site-packages", "dist-packages")
LIGHTNING_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.fabric.utilities.seed",
)
# Deprecation warnings raised inside a library, about its own use of another one, that no change of ours
# removes (the exact text and module: a new warning still shows). lightning 2.6.6 (the newest) with torch 2.13.
UPSTREAM_WARNINGS = ((r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities\._pytree"),)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A stage's argument parser: its docstring's first line as description, the rest as epilog; ``-v``."""
    lines = (doc or "").strip().splitlines()
    ap = argparse.ArgumentParser(
        description=lines[0] if lines else None,
        epilog="\n".join(lines[1:]).strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more output: -v the libraries' INFO lines (Scrapy, Lightning, MLflow), -vv everything at DEBUG; "
        f"env LOG_LEVEL ({', '.join(LEVELS)}) sets the level instead",
    )
    return ap


class _LibraryLevel(logging.Filter):
    """Drops library records below ``level``: Scrapy sets its loggers to DEBUG itself (it expects its own root
    handler, which we do not install, to apply LOG_LEVEL), so a logger level would not hold."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        # a library that logs through the root logger (onnxruntime's quantiser) is known by its file
        library = record.name.split(".", 1)[0] in LIBRARIES or (
            record.name == "root" and any(part in record.pathname for part in SITE_PACKAGES)
        )
        return not library or record.levelno >= self.level


def verbosity(argv: list[str]) -> int:
    """The number of ``-v`` flags in ``argv`` (``-v``, ``-vv``, ``--verbose``)."""
    count = 0
    for arg in argv:
        if arg == "--verbose":
            count += 1
        elif arg.startswith("-") and not arg.startswith("--") and set(arg[1:]) == {"v"}:
            count += len(arg) - 1
    return count


def setup_logging(verbose: int = 0, env_level: str | None = None) -> tuple[int, int]:
    """One console handler on stderr for the pipeline's and the libraries' lines; returns (own, library) levels.

    Default: the pipeline's INFO lines, libraries' warnings and errors. ``-v``: libraries' INFO lines too;
    ``-vv`` or ``LOG_LEVEL=DEBUG``: everything. ``LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) sets the level."""
    if env_level:
        name = env_level.strip().upper()
        if name not in LEVELS:
            raise ParamsError(f"environment LOG_LEVEL={env_level!r} is not a level; allowed: {', '.join(LEVELS)}")
        own = getattr(logging, name)
        lib = max(own, logging.WARNING) if not verbose else own
    else:
        own = logging.DEBUG if verbose >= 2 else logging.INFO
        lib = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_pipeline", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(_LibraryLevel(lib))
    handler._pipeline = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(min(own, lib))
    # MLflow and Lightning print through handlers of their own, so their loggers carry the level. MLflow reads
    # it from the environment when it configures its loggers; Lightning resets its package loggers to INFO when
    # imported, but not the loggers its lines come from (device, tip, seed and "fit stopped" lines).
    os.environ["MLFLOW_LOGGING_LEVEL"] = logging.getLevelName(lib)
    # MLflow draws a progress bar for every artifact download (the gate and serve verify registered files),
    # whether or not stdout is a terminal: only at -v and more
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "true" if lib <= logging.INFO else "false"
    for name in ("mlflow", "alembic", *LIGHTNING_LOGGERS):
        logging.getLogger(name).setLevel(lib)
    logging.getLogger("lightning").propagate = False  # printed once, by Lightning's own handler
    for message, module in UPSTREAM_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    return own, lib


def check_layout() -> None:
    """In a project folder (``dvc.yaml`` and ``params.yaml`` present): the folders params name are the stages'
    DVC outputs (:mod:`pipeline.config.layout`)."""
    from pipeline.config import PARAMS_FILE, load_params
    from pipeline.config.layout import DVC_FILE, check_layout

    if DVC_FILE.is_file() and PARAMS_FILE.is_file():
        check_layout(load_params())


def run(main: Callable[[], None], layout: bool = True) -> None:
    """Run a stage's ``main`` (after :func:`check_layout` unless ``layout`` is false); bad params or data exit
    with status 2 and a clear message. The MLflow runs the stage leaves RUNNING end FAILED on an exception and
    KILLED on SIGTERM/SIGINT (which then exits with status 128 + the signal's number)."""
    from pipeline import tracking

    tracking.install_signal_handlers()
    try:
        setup_logging(verbosity(sys.argv[1:]), os.environ.get("LOG_LEVEL"))
        if layout:
            check_layout()
        main()
    except (ParamsError, DataError, StageError) as err:
        tracking.end_own_runs("FAILED", f"error: {err}")
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except BaseException as err:
        signum = tracking.stop_signal()
        if signum is None and isinstance(err, SystemExit) and err.code in (0, None):
            raise
        if signum is None and not isinstance(err, KeyboardInterrupt):
            tracking.end_own_runs("FAILED", f"{type(err).__name__}: {str(err)[:2000]}")
            raise
        name = signal.Signals(signum).name if signum is not None else "SIGINT"
        ended = tracking.end_own_runs("KILLED", f"stopped by {name}")
        print(f"stopped by {name}: {len(ended)} MLflow run(s) ended KILLED", file=sys.stderr)
        raise SystemExit(128 + (signum or signal.SIGINT)) from None
