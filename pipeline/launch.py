"""The interpreter a stage runs with, when ``dvc`` is started from a virtual environment that is not on ``PATH``.

``dvc.yaml``'s commands are ``python -m pipeline <stage>``, and DVC hands them to the shell with its own
``PATH``: ``.venv/bin/dvc repro`` without an activated venv runs the stages with whatever ``python`` comes first
on ``PATH`` (``ModuleNotFoundError: parsel``). :func:`ensure_interpreter` runs first in ``python -m pipeline``:
under DVC (``DVC_STAGE`` is set), when this interpreter lacks the project's packages, it re-runs the command
with the project's interpreter: ``PIPELINE_PYTHON`` if set, else the interpreter running ``dvc`` (read from
``/proc``, Linux), else ``$DVC_ROOT/.venv/bin/python`` (``make setup``'s venv). Standard library only: it runs
in an interpreter that may have nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# What the stages import: if one is missing, this is the wrong interpreter (looked up with find_spec, never
# imported here). A bare interpreter may well have yaml and pydantic, so the list names the heavier ones too.
REQUIRED = ("yaml", "pydantic", "datasketch", "scrapy", "lightning", "mlflow", "sklearn")
REEXEC_FLAG = "PIPELINE_REEXEC"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state, past the command name


def dvc_python(pid: int | None = None, depth: int = 4) -> str | None:
    """The interpreter of the ``dvc`` process this one runs under (a parent, or the shell's parent), if any."""
    pid = os.getppid() if pid is None else pid
    for _ in range(depth):
        argv = _cmdline(pid)
        is_dvc = len(argv) >= 2 and (Path(argv[1]).name == "dvc" or argv[1:3] == ["-m", "dvc"])
        if is_dvc and "python" in Path(argv[0]).name and Path(argv[0]).is_absolute():
            return argv[0]
        pid = _parent(pid)
        if pid <= 1:
            break
    return None


def project_python() -> str | None:
    """``PIPELINE_PYTHON``, else the interpreter running ``dvc``, else ``$DVC_ROOT/.venv/bin/python``."""
    if os.environ.get("PIPELINE_PYTHON"):
        return os.environ["PIPELINE_PYTHON"]
    found = dvc_python()
    if found:
        return found
    venv = Path(os.environ.get("DVC_ROOT", ".")) / ".venv" / "bin" / "python"
    return str(venv) if venv.is_file() else None


def missing_packages() -> list[str]:
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def ensure_interpreter(argv: list[str]) -> None:
    """Under DVC, re-run ``python -m pipeline argv`` with the project's interpreter if this one lacks its packages."""
    if "DVC_STAGE" not in os.environ or os.environ.get(REEXEC_FLAG) or not missing_packages():
        return
    target = project_python()
    if not target or not os.access(target, os.X_OK) or os.path.abspath(target) == os.path.abspath(sys.executable):
        return  # nothing better: the import error that follows names the missing package
    os.environ[REEXEC_FLAG] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(target, [target, "-m", "pipeline", *argv])
