"""``python -m pipeline profile NAME [--run] [dvc exp run args]``: a named set of params overrides as a DVC experiment.

A profile is ``profiles/<NAME>.yaml``: dotted params keys and their values (``full``: full-size
settings for a real corpus). Without ``--run`` the command prints the ``dvc exp run -S key=value …`` line; with
``--run`` it runs it (further arguments go to ``dvc exp run``, e.g. ``--name big-run``). ``params.yaml`` is
changed by DVC as for any ``-S``: the workspace then holds the experiment's params, ``dvc exp show`` lists it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.config.params import ParamsError, parse_params

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")  # a string Hydra's override grammar reads unquoted


def names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name: str) -> dict[str, Any]:
    """The profile's ``{dotted key: value}``; a one-line :class:`ParamsError` for an unknown name or bad file."""
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ParamsError(f"unknown profile {name!r}; allowed: {', '.join(names())}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ParamsError(f"{path}: must be a mapping of dotted params keys to values")
    return data


def apply(params: dict[str, Any], overrides: dict[str, Any], source: str = "profile") -> dict[str, Any]:
    """``params`` (a nested mapping, changed in place) with each dotted key set; every key must already exist."""
    for key, value in overrides.items():
        node = params
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ParamsError(f"{source}: key {key!r} is not a params.yaml key")
        node[leaf] = value
    return params


def hydra_value(key: str, value: Any) -> str:
    """``value`` in Hydra's override grammar (what ``dvc exp run -S`` parses): scalars and flat lists."""
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(key, v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str) and _BARE.match(value) and value.lower() not in ("true", "false", "null"):
        return value
    raise ParamsError(f"profile key {key!r}: value {value!r} is not a number, boolean, plain word or list of them")


def set_args(overrides: dict[str, Any]) -> list[str]:
    return [arg for key, value in overrides.items() for arg in ("-S", f"{key}={hydra_value(key, value)}")]


def command(name: str, params_file: Path = Path("params.yaml")) -> list[str]:
    """The ``dvc exp run`` argument list of profile ``name``, checked against ``params_file``'s keys and schema
    (a key that does not exist, or a value the schema refuses, is a one-line error before DVC starts)."""
    overrides = load_profile(name)
    params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    parse_params(apply(params, overrides, f"profile {name}"), f"params.yaml with profile {name}")
    return ["dvc", "exp", "run", *set_args(overrides)]


def main() -> None:
    from pipeline import cli

    args = cli.parser(__doc__)
    args.add_argument("name", help=f"profile ({', '.join(names())})")
    args.add_argument("--run", action="store_true", help="run the dvc exp run command instead of printing it")
    ns, extra = args.parse_known_args()
    cmd = [*command(ns.name), *extra]
    if not ns.run:
        print(shlex.join(cmd))
        return
    dvc = Path(sys.executable).with_name("dvc")  # the project's dvc, next to this interpreter
    raise SystemExit(subprocess.run([str(dvc) if dvc.exists() else "dvc", *cmd[1:]]).returncode)
