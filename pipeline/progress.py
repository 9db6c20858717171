"""Progress bars for the long loops that are not Lightning epochs (tuning trials, generated texts; the crawl
has its own in ``scraping/crawl.py``): tqdm on stdout when it is a terminal, nothing otherwise, so CI and
DVC logs stay short. Lightning's epoch bar follows the same rule (``training/fit.py``)."""

from __future__ import annotations

import sys
from typing import Any


def on_terminal() -> bool:
    """Whether stdout is a terminal (a person watching), not a pipe or a file."""
    return sys.stdout.isatty()


def progress(total: int, desc: str, unit: str, initial: int = 0) -> Any:
    """A tqdm bar of ``total`` ``unit``\\ s (count, rate, ETA), disabled off a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        file=sys.stdout,
        disable=not on_terminal(),
        mininterval=0.5,
        dynamic_ncols=True,
    )
