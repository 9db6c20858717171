import json

import pytest

from pipeline.config import load_params
from pipeline.data.jsonl import DataError
from pipeline.data.preprocessing import preprocess
from tests.conftest import make_raw_docs, write_params, write_raw


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_outputs_split_and_vocab_from_train_only(workdir):
    docs = make_raw_docs(110)
    docs.append({**docs[0], "url": "http://127.0.0.1/dup.html"})  # exact duplicate (same hash)
    docs.append({"url": "http://127.0.0.1/x.html", "text": "بلا تقييم", "score": None})
    docs.append({"url": "http://127.0.0.1/y.html", "text": "  ", "score": 3})
    write_raw(workdir, docs)
    summary = preprocess(load_params())
    out = workdir / "data" / "processed"
    splits = {name: _read(out / f"{name}.jsonl") for name in ("train", "val", "test")}
    assert sum(map(len, splits.values())) == 110 == summary["documents"]
    assert summary["dropped"] == {"duplicate": 1, "no_score": 1, "empty_text": 1}
    ids = [r["id"] for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids))
    for rows in splits.values():
        assert {r["label"] for r in rows} == {0, 1, 2}
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))["itos"]
    train_tokens = {t for r in splits["train"] for t in r["tokens"]}
    assert set(vocab[2:]) <= train_tokens
    # the per-document number (رقم i) appears once, so min_token_freq=2 keeps it out
    assert "17" not in vocab
    assert json.loads((out / "classes.json").read_text())["labels"] == ["negative", "neutral", "positive"]
    assert summary["splits"]["test"]["oov_rate"] > 0


def _split_rows(workdir):
    return {
        name: sorted(_read(workdir / f"data/processed/{name}.jsonl"), key=lambda r: r["id"])
        for name in ("train", "val", "test")
    }


def test_split_does_not_depend_on_crawl_order(workdir):
    docs = make_raw_docs(60)
    write_raw(workdir, docs)
    preprocess(load_params())
    first = _split_rows(workdir)
    write_raw(workdir, list(reversed(docs)))
    preprocess(load_params())
    assert _split_rows(workdir) == first


def test_seed_changes_the_split(workdir):
    write_raw(workdir, make_raw_docs(60))
    preprocess(load_params())
    first = _split_rows(workdir)
    write_params(workdir / "params.yaml", {"base.seed": 7})
    preprocess(load_params())
    assert _split_rows(workdir)["test"] != first["test"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "docs.jsonl:3: not valid JSON"),
        ('{"url": "u", "text": "نص"}', "docs.jsonl:3: missing field(s) score"),
        ('{"url": "u", "text": "نص", "score": 11}', "docs.jsonl:3: score 11"),
    ],
)
def test_bad_raw_lines_name_file_and_line(workdir, line, message):
    path = write_raw(workdir, make_raw_docs(2))
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preprocess(load_params())
    assert not (workdir / "data" / "processed").exists()


def test_missing_raw_data(workdir):
    with pytest.raises(DataError, match=r"no \*\.jsonl files"):
        preprocess(load_params())
