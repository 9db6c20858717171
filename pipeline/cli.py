"""Shared entry-point plumbing: clean one-line errors instead of tracebacks for bad input."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from pipeline.config import ParamsError
from pipeline.data.jsonl import DataError


class StageError(RuntimeError):
    """A stage could not produce its outputs (for example a crawl that found nothing)."""


def parser(doc: str | None) -> argparse.ArgumentParser:
    """A stage's argument parser: its docstring's first line as description, the rest as epilog."""
    lines = (doc or "").strip().splitlines()
    return argparse.ArgumentParser(
        description=lines[0] if lines else None,
        epilog="\n".join(lines[1:]).strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def check_layout() -> None:
    """In a project folder (``dvc.yaml`` and ``params.yaml`` present): the folders params name are the stages'
    DVC outputs (:mod:`pipeline.config.layout`)."""
    from pipeline.config import PARAMS_FILE, load_params
    from pipeline.config.layout import DVC_FILE, check_layout

    if DVC_FILE.is_file() and PARAMS_FILE.is_file():
        check_layout(load_params())


def run(main: Callable[[], None], layout: bool = True) -> None:
    """Run a stage's ``main`` (after :func:`check_layout` unless ``layout`` is false); bad params or data exit
    with status 2 and a clear message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for name in ("lightning.pytorch", "lightning.fabric"):  # they print through their own handler
        logging.getLogger(name).propagate = False
    try:
        if layout:
            check_layout()
        main()
    except (ParamsError, DataError, StageError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
