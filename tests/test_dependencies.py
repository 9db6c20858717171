"""Package boundaries and honest dependencies, read from the source with ``ast`` (imports inside functions too)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = frozenset({"pipeline", "scraping"})
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Import:
    module: str  # the dotted name imported (``from a.b import c`` gives ``a.b``)
    where: str  # path:line
    optional: bool  # inside a ``try`` whose handlers catch ImportError

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


class _Imports(ast.NodeVisitor):
    def __init__(self, where: str) -> None:
        self.where, self.optional, self.found = where, 0, []

    def visit_Try(self, node: ast.Try) -> None:
        caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
        guard = bool(caught & {"ImportError", "ModuleNotFoundError", "(ImportError, ModuleNotFoundError)"})
        self.optional += guard
        for child in node.body:
            self.visit(child)
        self.optional -= guard
        for child in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(child)

    visit_TryStar = visit_Try

    def _add(self, module: str, node: ast.AST) -> None:
        self.found.append(Import(module, f"{self.where}:{node.lineno}", self.optional > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node)


def imports(package: str) -> Iterator[Import]:
    """Every absolute import of every module under ``package/``."""
    for path in sorted((REPO / package).rglob("*.py")):
        visitor = _Imports(str(path.relative_to(REPO)))
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        yield from visitor.found


def third_party() -> dict[str, list[Import]]:
    """Top-level third-party module → its imports in ``pipeline/`` and ``scraping/``."""
    out: dict[str, list[Import]] = {}
    for package in sorted(FIRST_PARTY):
        for imp in imports(package):
            if imp.top not in sys.stdlib_module_names and imp.top not in FIRST_PARTY:
                out.setdefault(imp.top, []).append(imp)
    return out


def declared(extras: bool) -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    if extras:
        reqs += [Requirement(r) for group in project.get("optional-dependencies", {}).values() for r in group]
    return {canonicalize_name(r.name): r for r in reqs}


def lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_scraping_never_imports_pipeline():
    offending = [imp.where for imp in imports("scraping") if imp.top == "pipeline"]
    assert not offending, f"scraping/ must not import pipeline (pipeline imports scraping): {offending}"


def test_the_walker_sees_function_level_and_optional_imports():
    found = {imp.module: imp for imp in imports("pipeline")}
    assert not found["transformers"].optional  # module level in several files, inside functions in others
    assert found["qalsadi.lemmatizer"].optional  # pipeline/text/stemming.py: try/except ImportError
    assert "nltk.stem.isri" in found  # only imported inside a function


def test_every_third_party_import_is_a_declared_dependency():
    installed = packages_distributions()
    required, anywhere = declared(extras=False), declared(extras=True)
    missing = []
    for module, uses in sorted(third_party().items()):
        optional = all(imp.optional for imp in uses)
        # an optional package that is not installed is known by its module name only
        dists = {canonicalize_name(d) for d in installed.get(module, [module] if optional else [])}
        if not dists & set(anywhere if optional else required):
            kind = "optional-dependencies" if optional else "dependencies"
            missing.append(
                f"{module} (distribution {sorted(dists) or 'not installed'}, used at {uses[0].where}): {kind}"
            )
    assert not missing, "declare in pyproject.toml [project]:\n" + "\n".join(missing)


def test_declared_dependencies_are_locked_at_their_pins():
    pins, problems = lock(), []
    for name, req in declared(extras=False).items():
        if name not in pins:
            problems.append(f"{name}: not in requirements.lock")
        elif req.specifier and pins[name] not in req.specifier:
            problems.append(f"{name}: lock has {pins[name]}, pyproject.toml wants {req.specifier}")
    for line in (REPO / "requirements.in").read_text(encoding="utf-8").splitlines():
        if line := line.split("#")[0].strip():
            req = Requirement(line)
            if canonicalize_name(req.name) not in pins:
                problems.append(f"{req.name}: in requirements.in, not in requirements.lock")
    assert not problems, problems


def test_code_uses_the_lightning_package_only():
    # `lightning` declares `pytorch-lightning` as a dependency (see requirements.in); we never import it.
    offending = [
        imp.where
        for pkg in sorted(FIRST_PARTY)
        for imp in imports(pkg)
        if imp.top in {"pytorch_lightning", "lightning_fabric"}
    ]
    assert not offending, offending


def test_the_lock_holds_one_lightning_distribution_installed_without_resolving():
    """`lightning` declares `pytorch-lightning`, which nothing here imports: the lock leaves it out, and `make
    setup` installs the lock as it is (``--no-deps``), so only one Lightning distribution is installed."""
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8").lower().splitlines()
    names = {line.split("==")[0] for line in lock if "==" in line and not line.startswith("#")}
    assert "lightning" in names and "pytorch-lightning" not in names and "lightning-fabric" not in names
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --no-deps -r requirements.lock" in makefile


def test_the_gpl_lemmatiser_is_an_extra_pinned_apart_from_the_default_lock():
    """qalsadi (GPL-3.0) and its dependencies live in requirements-lemmatise.lock, at the extra's pin, and none of
    them in requirements.lock: `make setup` installs only permissive packages; `make test` adds the extra."""
    extra = {}
    for line in (REPO / "requirements-lemmatise.lock").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            extra[canonicalize_name(name)] = version.strip()
    qalsadi = Requirement(PYPROJECT["project"]["optional-dependencies"]["qalsadi"][0])
    assert extra.get("qalsadi") in qalsadi.specifier
    assert not set(extra) & set(lock()), "the extra's packages must stay out of requirements.lock"
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --no-deps -r requirements-lemmatise.lock" in makefile
    assert re.search(r"^test: setup setup-lemmatise", makefile, re.M)
