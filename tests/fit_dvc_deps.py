"""Re-fit the code deps of every dvc.yaml stage to what its entry point imports (``make dvc-deps``).

Data deps, params, outs and comments are kept; each stage's code deps become the files its import closure
runs (:func:`tests.deps_analysis.stage_closure`), a folder standing for its files when every one of them is
used. ``tests/test_dvc_deps.py`` checks the result (and the params lists, which stay hand-written).
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

from ruamel.yaml import YAML

from tests.deps_analysis import CODE_ROOTS, REPO, files_under, is_inert_init, stage_closure

SHIPS_CODE = {"register": ["pipeline"]}  # logged whole with the registered model (mlflow code_paths)


def minimal_listing(closure: set[Path]) -> list[str]:
    """Files of ``closure`` (inert ``__init__`` files left out), a folder replacing its files when all are used."""
    needed = {f for f in closure if not is_inert_init(f)}
    out: set[Path] = set()
    for f in needed:
        folder, best = f.parent, f
        while folder != REPO and folder.name not in CODE_ROOTS:
            if all(g in closure for g in files_under(folder)):
                best = folder
            folder = folder.parent
        out.add(best)
    out = {p for p in out if not any(q != p and q in p.parents for q in out)}
    return sorted(str(p.relative_to(REPO)) for p in out)


def main() -> None:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    path = REPO / "dvc.yaml"
    doc = yaml.load(path.read_text(encoding="utf-8"))
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        module = f"pipeline.stages.{body['cmd'].split()[3]}"
        deps = body.get("deps", [])
        data = [d for d in deps if "${" in str(d) or PurePosixPath(str(d)).parts[0] not in CODE_ROOTS]
        code = SHIPS_CODE.get(name) or minimal_listing(stage_closure(module))
        deps.clear()
        deps.extend([*data, *code])
    with path.open("w", encoding="utf-8") as fh:
        yaml.dump(doc, fh)
    print(f"re-fitted the code deps of {len(doc['stages'])} stages in {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
