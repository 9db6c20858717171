"""``python -m pipeline <stage> [args]``: run one stage; ``check`` validates params.yaml, ``params`` documents it."""

from __future__ import annotations

import ast
import importlib
import os
import sys
import textwrap
from pathlib import Path

STAGES_DIR = Path(__file__).parent / "stages"
COMMANDS = {
    "check": "validate params.yaml (values, dvc.yaml outs, a file source's columns) and exit",
    "params": "print every params key: type, default, description (--markdown: tables)",
    "profile": "a named set of params overrides as a dvc exp run (profile full: full-size settings; --run)",
    "serve": "the HTTP API over the registered champion (python -m pipeline serve --help)",
    "ui": "the demo UI in a browser (Streamlit) over the same model (python -m pipeline ui --help)",
}

STAGE_ENV = "PIPELINE_STAGE"  # the stage this process runs, inherited by the other ranks of a ddp training
SERVING = {"serve": "server", "ui": "ui"}  # commands whose code lives in pipeline/serving/ (not DVC stages)
TOOLS = {"profile": "profiles"}  # other commands' modules in pipeline/, imported by name: no stage's code deps


def stages() -> dict[str, str]:
    """Every stage module in ``pipeline/stages/`` and the first line of its docstring (read, not imported)."""
    found = {}
    for path in sorted(STAGES_DIR.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        found[path.stem] = doc.splitlines()[0] if doc else ""
    return found


def stage_files(dvc_yaml: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Per ``dvc.yaml`` stage, the files it reads (its deps other than code) and writes (its outs); ``{}``
    without a readable ``dvc.yaml``. ``${item}`` reads ``<item>``, other ``${…}`` are params values."""
    import yaml

    try:
        spec = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return {}
    found = {}
    for name, stage in spec.items():
        body = stage.get("do", stage)
        deps = [str(d) for d in body.get("deps", []) if str(d).split("/")[0] not in ("pipeline", "scraping")]
        outs = [str(next(iter(o)) if isinstance(o, dict) else o) for o in body.get("outs", [])]
        found[name] = ([d.replace("${item}", "<item>") for d in deps], [o.replace("${item}", "<item>") for o in outs])
    return found


def usage() -> str:
    lines = ["usage: python -m pipeline <command> [args]   (each stage has --help)", ""]
    lines += ["stages (with what they read and write, from dvc.yaml; <item>: each of the stage's foreach list):"]
    width = max(map(len, stages()))
    dvc_yaml = Path("dvc.yaml") if Path("dvc.yaml").is_file() else Path(__file__).resolve().parents[1] / "dvc.yaml"
    files = stage_files(dvc_yaml)
    pad = " " * (width + 4)
    for name, summary in stages().items():
        lines.append(f"  {name:<{width}}  {summary}")
        reads, writes = files.get(name, ([], []))
        for label, paths in (("reads:", reads), ("writes:", writes)):
            if paths:
                text = f"{label} {', '.join(paths)}"
                lines += textwrap.wrap(
                    text, 120, initial_indent=pad, subsequent_indent=pad + "  ", break_on_hyphens=False
                )
    lines += ["", "other commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, summary in COMMANDS.items()]
    return "\n".join(lines)


def relaunched_argv(argv: list[str]) -> list[str]:
    """``argv`` with the stage name put back in a process Lightning's ``ddp`` launcher started for another rank.

    The launcher re-runs ``python -m pipeline.__main__`` with ``sys.argv[1:]``, which lacks the stage name by then
    (stripped below for the stage's own parser); the name travels in :data:`STAGE_ENV`."""
    stage = os.environ.get(STAGE_ENV)
    if stage and os.environ.get("LOCAL_RANK", "0") != "0" and argv[:1] != [stage]:
        return [stage, *argv]
    return argv


def main() -> None:
    from pipeline.launch import ensure_interpreter

    ensure_interpreter(sys.argv[1:])  # under DVC without the venv on PATH: re-run with the project's interpreter
    sys.argv[1:] = relaunched_argv(sys.argv[1:])
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if len(sys.argv) >= 2 else 2)
    name, sys.argv = sys.argv[1], [f"python -m pipeline {sys.argv[1]}", *sys.argv[2:]]
    os.environ[STAGE_ENV] = name  # for the other ranks of a distributed training (relaunched_argv)
    from pipeline import cli

    if name == "check":
        from pipeline.config import load_params
        from pipeline.data.sources import check_source

        def check() -> None:
            check_source(load_params())  # the dvc.yaml layout check ran first, in cli.run
            print("params.yaml is valid")

        cli.run(check)
        return
    if name == "params":
        from pipeline.config import schema

        cli.run(schema.main, layout=False)
        return
    if name in TOOLS:
        cli.run(importlib.import_module(f"pipeline.{TOOLS[name]}").main, layout=False)
        return
    if name in SERVING:  # imported by name, as the stages are: no stage's code deps in dvc.yaml include it
        cli.run(importlib.import_module(f"pipeline.serving.{SERVING[name]}").main)
        return
    if name not in stages():
        allowed = ", ".join([*stages(), *COMMANDS])
        print(f"error: unknown command {name!r}; allowed: {allowed}", file=sys.stderr)
        raise SystemExit(2)
    cli.run(importlib.import_module(f"pipeline.stages.{name}").main)


if __name__ == "__main__":
    main()
