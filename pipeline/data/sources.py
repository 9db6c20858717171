"""Where documents come from: the scrape stage's JSON lines, a local file, or a Hugging Face dataset.

Every source yields :class:`RawDoc` one at a time (files are streamed, never loaded whole),
each with a ``where`` string (``file:row``) that error messages name.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import DataParams, Params
from pipeline.data.jsonl import DataError, read_jsonl


@dataclass
class RawDoc:
    where: str
    id: str
    text: str
    score: float | None = None  # 0–10
    label: str | None = None
    url: str = ""
    title: str = ""
    source: str = ""
    split: str | None = None  # train | val | test when the source carries a split column


SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "dev": "val", "test": "test"}


def _format(dp: DataParams, path: Path) -> str:
    if dp.format != "auto":
        return dp.format
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    formats = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
    if suffix not in formats:
        raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}; set data.format")
    return formats[suffix]


def _rows_csv(path: Path, dp: DataParams, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(10**8)
    row_no = 1
    try:
        with path.open(encoding=dp.encoding, newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            _check_columns(path, dp, reader.fieldnames or [])
            for row_no, row in enumerate(reader, 2):  # row 1 is the header
                yield row_no, row
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: row {row_no + 1}: not valid {dp.encoding} ({err.reason} at byte {err.start} of a chunk); "
            "set data.encoding (for example windows-1256)"
        ) from None


def _rows_jsonl(path: Path, dp: DataParams) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        for row_no, row in enumerate(read_jsonl(path, encoding=dp.encoding), 1):
            if row_no == 1:
                _check_columns(path, dp, list(row))
            yield row_no, row
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not valid {dp.encoding} ({err.reason}); set data.encoding") from None


def _rows_parquet(path: Path, dp: DataParams) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    _check_columns(path, dp, pf.schema_arrow.names)
    row_no = 0
    for batch in pf.iter_batches(batch_size=4096, columns=_columns(dp)):
        for row in batch.to_pylist():
            row_no += 1
            yield row_no, row


def _rows_hf(dp: DataParams) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import datasets
    except ImportError:
        raise DataError("data.source 'huggingface' needs the `datasets` package") from None
    try:
        ds = datasets.load_dataset(dp.hf_name, dp.hf_config, split=dp.hf_split)
    except Exception as err:  # the hub or the loader says why: pass it on with our key names
        raise DataError(f"data.hf_name {dp.hf_name!r} (split {dp.hf_split!r}): could not be loaded: {err}") from None
    _check_columns(Path(str(dp.hf_name)), dp, list(ds.column_names))
    yield from enumerate(ds, 1)


def _columns(dp: DataParams) -> list[str]:
    return [c for c in (dp.text_column, dp.score_column, dp.label_column, dp.id_column, dp.split_column) if c]


def _check_columns(path: Path, dp: DataParams, present: list[str]) -> None:
    keys = {"text_column": dp.text_column, "score_column": dp.score_column, "label_column": dp.label_column}
    keys["id_column"] = dp.id_column
    keys["split_column"] = dp.split_column
    missing = [c for c in _columns(dp) if c not in present]
    if missing:
        named = ", ".join(f"data.{k} {v!r}" for k, v in keys.items() if v in missing)
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has: {', '.join(present)} (set {named})"
        )


def check_source(params: Params) -> None:
    """Read only the header (CSV/TSV), the first row (JSON lines) or the schema (Parquet) of a file source and
    raise :class:`DataError` if a configured column is missing; other sources are checked when read."""
    dp = params.data
    if dp.source != "file":
        return
    rows = _external(dp)
    try:
        next(rows, None)
    finally:
        rows.close()


def _file_doc(where: str, row: dict[str, Any], dp: DataParams, origin: str, key: str) -> RawDoc:
    """One row of a file or hub source; ``where`` names it in errors, ``key`` is its id when ``data.id_column``
    gives none (the file's name and row, not its folder: the splits, which follow id hashes, stay the same
    wherever the file lives)."""
    text = row.get(dp.text_column)
    if text is None or not str(text).strip():
        raise DataError(f"{where}: empty text in column {dp.text_column!r}")
    doc = RawDoc(where=where, id=str(row.get(dp.id_column) or key) if dp.id_column else key, text=str(text))
    doc.url = doc.id
    doc.source = origin
    if dp.split_column:
        given = str(row.get(dp.split_column) or "").strip()
        if given.lower() not in SPLIT_NAMES:
            raise DataError(
                f"{where}: split {given!r} in column {dp.split_column!r} is not one of: {', '.join(SPLIT_NAMES)}"
            )
        doc.split = SPLIT_NAMES[given.lower()]
    if dp.label_column:
        label = row.get(dp.label_column)
        if label is None or str(label).strip() == "":
            raise DataError(f"{where}: empty label in column {dp.label_column!r}")
        doc.label = str(label).strip()
        if doc.label.endswith(".0") and doc.label[:-2].lstrip("-").isdigit():
            doc.label = doc.label[:-2]  # 1.0 and 1 are the same class
    else:
        raw = row.get(dp.score_column or "")
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataError(f"{where}: score {raw!r} in column {dp.score_column!r} is not a number") from None
        worst, best = dp.score_scale
        if not worst <= value <= best:
            raise DataError(f"{where}: score {value:g} is outside data.score_scale [{worst:g}, {best:g}]")
        doc.score = round((value - worst) / (best - worst) * 10, 6)
    return doc


def _scraped(raw_dir: Path) -> Iterator[RawDoc]:
    files = sorted(raw_dir.glob("*.jsonl"))
    if not files:
        raise DataError(f"{raw_dir}: no *.jsonl files (run the scrape stage first)")
    for path in files:
        for lineno, row in enumerate(read_jsonl(path), 1):
            where = f"{path}:{lineno}"
            missing = [k for k in ("url", "text", "score") if k not in row]
            if missing:
                raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
            score = row["score"]
            if score is not None and (not isinstance(score, int | float) or not 0 <= score <= 10):
                raise DataError(f"{where}: score {score!r} is not a number in 0–10")
            yield RawDoc(
                where=where,
                id=str(row.get("content_hash") or row["url"]),
                text=str(row["text"] or ""),
                score=None if score is None else float(score),
                url=str(row["url"]),
                title=str(row.get("title") or ""),
                source=str(row.get("source") or ""),
            )


def iter_documents(params: Params) -> Iterator[RawDoc]:
    """Stream the configured source's documents (capped by ``preprocess.max_samples``)."""
    dp = params.data
    cap = params.preprocess.max_samples or None
    if dp.source == "scrape":
        docs: Iterator[RawDoc] = _scraped(Path(params.base.raw_dir))
    else:
        docs = _external(dp)
    for i, doc in enumerate(docs):
        if cap is not None and i >= cap:
            return
        yield doc


def _external(dp: DataParams) -> Iterator[RawDoc]:
    if dp.source == "huggingface":
        origin = str(dp.hf_name)
        rows: Iterator[tuple[int, dict[str, Any]]] = _rows_hf(dp)
        prefix = key_prefix = f"{dp.hf_name}[{dp.hf_split}]"
    else:
        path = Path(dp.path)
        origin = path.name
        fmt = _format(dp, path)
        prefix, key_prefix = str(path), path.name
        if fmt in ("csv", "tsv"):
            rows = _rows_csv(path, dp, "," if fmt == "csv" else "\t")
        elif fmt == "jsonl":
            rows = _rows_jsonl(path, dp)
        else:
            rows = _rows_parquet(path, dp)
    for row_no, row in rows:
        yield _file_doc(f"{prefix}: row {row_no}", row, dp, origin, f"{key_prefix}: row {row_no}")


def describe(params: Params) -> dict[str, Any]:
    """What the summary says about the source."""
    dp = params.data
    info: dict[str, Any] = {"source": dp.source}
    if dp.source == "file":
        info.update(
            path=dp.path, text_column=dp.text_column, score_column=dp.score_column, label_column=dp.label_column
        )
    elif dp.source == "huggingface":
        info.update(name=dp.hf_name, config=dp.hf_config, split=dp.hf_split)
    return json.loads(json.dumps(info))
