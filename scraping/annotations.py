"""Scores from an annotations file (URL → score) for pages that carry no rating.

CSV with a header holding ``url`` and ``score`` columns, or JSON lines with ``url`` and ``score``
keys. Scores are on 0–10; an empty score means "no label". Errors name the file and line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path


class AnnotationsError(ValueError):
    """The annotations file is missing or malformed (the message names the file and line)."""


def _score(value: object, where: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        score = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise AnnotationsError(f"{where}: score {value!r} is not a number") from None
    if not 0 <= score <= 10:
        raise AnnotationsError(f"{where}: score {score:g} is outside 0–10")
    return score


def load_annotations(path: str | Path) -> dict[str, float]:
    """``{url: score}`` from a ``.csv`` or ``.jsonl`` file (rows without a score are left out)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationsError(f"{path}: annotations file not found")
    out: dict[str, float] = {}
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = [r for r in csv.reader(fh)]
        content = [(i, r) for i, r in enumerate(rows, 1) if r and not r[0].lstrip().startswith("#")]
        if not content:
            return out
        (_, header), *body = content
        names = [h.strip().lower() for h in header]
        if "url" not in names or "score" not in names:
            raise AnnotationsError(f"{path}:{content[0][0]}: the header must name 'url' and 'score' columns")
        iu, is_ = names.index("url"), names.index("score")
        for lineno, row in body:
            where = f"{path}:{lineno}"
            if len(row) <= max(iu, is_):
                raise AnnotationsError(f"{where}: expected {len(names)} columns, got {len(row)}")
            score = _score(row[is_], where)
            if score is not None:
                out[row[iu].strip()] = score
        return out
    if path.suffix.lower() not in (".jsonl", ".json"):
        raise AnnotationsError(f"{path}: use a .csv or .jsonl file")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise AnnotationsError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("url"), str):
            raise AnnotationsError(f"{where}: expected an object with a string 'url'")
        score = _score(obj.get("score"), where)
        if score is not None:
            out[obj["url"].strip()] = score
    return out


def load_seed_urls(path: str | Path) -> list[str]:
    """Start URLs from a text file: one per line, ``#`` starts a comment."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationsError(f"{path}: seed URL file not found")
    urls = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        url = line.split("#", 1)[0].strip()
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise AnnotationsError(f"{path}:{lineno}: {url!r} is not an http(s) URL")
        urls.append(url)
    return urls
