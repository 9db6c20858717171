"""Every DVC stage lists, in its deps, every pipeline module its entry point imports (DVC hashes only
listed files: a missing one means a code change that never re-runs the stage)."""

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def module_file(name: str) -> Path | None:
    path = REPO / Path(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def imported(path: Path) -> set[str]:
    """pipeline modules imported anywhere in ``path`` (function-level imports included)."""
    names = set()
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names.add(base)
            names |= {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n.split(".")[0] == "pipeline"}


def closure(entry: str) -> set[Path]:
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        f = module_file(todo.pop())
        if f is None or f in seen:
            continue
        seen.add(f)
        todo.extend(imported(f))
        parts = f.relative_to(REPO).parts  # a module also runs its packages' __init__
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts) - 1))
    return seen


def entry_points():
    for name, stage in STAGES.items():
        stage = stage.get("do", stage)
        cmd = stage["cmd"].split()
        assert cmd[:3] == ["python", "-m", "pipeline"], f"stage {name!r}: run it as `python -m pipeline <stage>`"
        yield name, f"pipeline.stages.{cmd[3]}", stage.get("deps", [])


@pytest.mark.parametrize(("stage", "module", "deps"), list(entry_points()), ids=[s for s, _, _ in entry_points()])
def test_stage_deps_cover_the_imported_code(stage, module, deps):
    covered = [REPO / d for d in deps if "${" not in d]
    missing = sorted(
        str(f.relative_to(REPO))
        for f in closure(module)
        if f.name != "__init__.py" or f.parent == REPO / "pipeline"
        if not any(f == d or d in f.parents for d in covered)
    )
    missing = [m for m in missing if m != "pipeline/__init__.py"]
    assert not missing, f"dvc.yaml stage {stage!r} imports code it does not list in deps: {missing}"
