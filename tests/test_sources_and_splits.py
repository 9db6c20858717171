"""Data sources besides scraping, class maps, near-duplicate grouping, parallel processing."""

import csv
import json

import pytest

from pipeline.config import BinsParams, ParamsError, load_params, parse_params
from pipeline.data.jsonl import DataError
from pipeline.data.labels import ClassMap
from pipeline.data.preprocessing import preprocess
from tests.conftest import make_raw_docs, write_params, write_raw


def _rows(workdir):
    out = {}
    for name in ("train", "val", "test"):
        path = workdir / "data" / "processed" / f"{name}.jsonl"
        out[name] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


def _write_csv(path, rows, delimiter=",", encoding="utf-8"):
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def _file_rows(n=60):
    return [
        {"review": d["text"], "stars": 1 + d["score"] * 0.4, "ref": f"r{i}"} for i, d in enumerate(make_raw_docs(n))
    ]


def test_csv_source_with_a_rescaled_score_column(workdir):
    _write_csv(workdir / "reviews.csv", _file_rows())
    write_params(
        workdir / "params.yaml",
        {
            "data": {
                "source": "file",
                "path": "reviews.csv",
                "text_column": "review",
                "score_column": "stars",
                "score_scale": [1, 5],
                "id_column": "ref",
            }
        },
    )
    summary = preprocess(load_params())
    rows = _rows(workdir)
    assert summary["documents"] == 60 and summary["source"]["source"] == "file"
    by_id = {r["id"]: r for split in rows.values() for r in split}
    assert by_id["r7"]["score"] == pytest.approx(7.0) and by_id["r7"]["label_name"] == "positive"


def test_a_file_without_ids_splits_the_same_wherever_it_lives(workdir):
    """Row ids are the file's name and row number, not its path: the splits (ordered by id hash) stay put."""
    rows = [{"review": r["review"], "stars": r["stars"]} for r in _file_rows(60)]
    splits = []
    for folder in ("here", "somewhere/else/entirely"):
        (workdir / folder).mkdir(parents=True)
        _write_csv(workdir / folder / "reviews.csv", rows)
        data = {"source": "file", "path": str(workdir / folder / "reviews.csv"), "text_column": "review",
                "score_column": "stars", "score_scale": [1, 5]}  # fmt: skip
        write_params(workdir / "params.yaml", {"data": data})
        preprocess(load_params())
        splits.append({name: [r["id"] for r in split] for name, split in _rows(workdir).items()})
    assert splits[0] == splits[1]
    assert splits[0]["test"][0].startswith("reviews.csv: row ")


@pytest.mark.parametrize("fmt", ["tsv", "jsonl", "parquet"])
def test_other_file_formats_with_a_label_column(workdir, fmt):
    rows = [{"text": r["review"], "polarity": ["neg", "pos"][i % 2]} for i, r in enumerate(_file_rows(40))]
    path = workdir / f"reviews.{fmt}"
    if fmt == "tsv":
        _write_csv(path, rows, delimiter="\t")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    write_params(
        workdir / "params.yaml",
        {"data": {"source": "file", "path": path.name, "score_column": None, "label_column": "polarity"}},
    )
    summary = preprocess(load_params())
    assert [c["label"] for c in summary["classes"]] == ["neg", "pos"]
    assert summary["class_map"]["kind"] == "label"
    assert sum(s["documents"] for s in summary["splits"].values()) == 40


def test_huggingface_source_loads_a_local_dataset_folder(workdir):
    folder = workdir / "hf_data"
    folder.mkdir()
    rows = [{"content": r["review"], "label": i % 3} for i, r in enumerate(_file_rows(45))]
    (folder / "train.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    write_params(
        workdir / "params.yaml",
        {
            "data": {
                "source": "huggingface",
                "hf_name": str(folder),
                "text_column": "content",
                "score_column": None,
                "label_column": "label",
            }
        },
    )
    summary = preprocess(load_params())
    assert [c["label"] for c in summary["classes"]] == ["0", "1", "2"]
    assert summary["documents"] == 45


@pytest.mark.parametrize(
    ("rows", "options", "message"),
    [
        ([{"txt": "نص", "score": 3}], {}, r"reviews.csv: missing column\(s\) text; the file has: txt, score"),
        ([{"text": "نص جيد", "score": 3}, {"text": "  ", "score": 4}], {}, "reviews.csv: row 3: empty text"),
        ([{"text": "نص", "score": 3}, {"text": "نص اخر", "score": 12}], {}, r"reviews.csv: row 3: score 12 is outside"),
        ([{"text": "نص", "score": "ممتاز"}], {}, "reviews.csv: row 2: score 'ممتاز' .* is not a number"),
    ],
)
def test_bad_files_name_the_file_row_and_problem(workdir, rows, options, message):
    _write_csv(workdir / "reviews.csv", rows)
    write_params(workdir / "params.yaml", {"data": {"source": "file", "path": "reviews.csv", **options}})
    with pytest.raises(DataError, match=message):
        preprocess(load_params())
    assert not (workdir / "data" / "processed").exists()


def test_wrong_encoding_is_named(workdir):
    rows = [{"text": f"مطعم رائع جدا رقم {i}", "score": 9} for i in range(3)]
    _write_csv(workdir / "reviews.csv", rows, encoding="cp1256")
    write_params(workdir / "params.yaml", {"data": {"source": "file", "path": "reviews.csv"}})
    with pytest.raises(DataError, match=r"reviews.csv: row \d+: not valid utf-8.*windows-1256"):
        preprocess(load_params())
    tiny = {"checks.min_classes": 1, "checks.min_per_class": 1}  # three documents of one class
    write_params(
        workdir / "params.yaml", {"data": {"source": "file", "path": "reviews.csv", "encoding": "cp1256"}, **tiny}
    )
    assert preprocess(load_params())["documents"] == 3
    texts = {r["text"] for split in _rows(workdir).values() for r in split}
    assert texts == {r["text"] for r in rows}


def test_data_params_are_checked_up_front(tmp_path):
    with pytest.raises(ParamsError, match=r"data\.path 'missing\.csv' is not a file"):
        parse_params({"data": {"source": "file", "path": "missing.csv"}})
    with pytest.raises(ParamsError, match="exactly one of score_column and label_column"):
        parse_params({"data": {"source": "huggingface", "hf_name": "x", "label_column": "y"}})


def test_quantile_and_uniform_bins():
    scores = [0, 1, 1, 2, 3, 5, 6, 8, 9, 10] * 3
    q = ClassMap.from_params(BinsParams(method="quantile", n_classes=2, labels=["low", "high"]), scores)
    assert q.edges == (4.0,) and q.label_id(3) == 0 and q.label_id(5) == 1
    u = ClassMap.from_params(BinsParams(method="uniform", n_classes=5, labels=[]), [])
    assert u.edges == (2.0, 4.0, 6.0, 8.0) and u.labels == ("class_0", "class_1", "class_2", "class_3", "class_4")
    with pytest.raises(ValueError, match="too few distinct scores"):
        ClassMap.from_params(BinsParams(method="quantile", n_classes=4, labels=[]), [5] * 10 + [9])


def test_quantile_bins_balance_classes(workdir):
    write_raw(workdir, make_raw_docs(99))
    write_params(
        workdir / "params.yaml", {"preprocess.bins": {"method": "quantile", "n_classes": 2, "labels": ["low", "high"]}}
    )
    summary = preprocess(load_params())
    counts = [sum(s["class_counts"][lab] for s in summary["splits"].values()) for lab in ("low", "high")]
    assert abs(counts[0] - counts[1]) <= 20


def test_near_duplicates_never_straddle_splits(workdir):
    docs = make_raw_docs(80)
    twins = []
    for i, d in enumerate(docs[:20]):  # a long review reposted with one word changed
        long_text = " ".join([d["text"], docs[40 + i]["text"], docs[60 + i]["text"]])
        words = long_text.split()
        words[len(words) // 2] = "معدلة"
        twins.append(
            {**d, "url": f"http://127.0.0.1/repost/{i}.html", "content_hash": f"t{i}", "text": " ".join(words)}
        )
        docs[i] = {**d, "text": long_text}
    write_raw(workdir, docs + twins)
    write_params(workdir / "params.yaml", {"preprocess.split.near_duplicate_threshold": 0.7})  # pairs are ~0.87
    summary = preprocess(load_params())
    assert summary["near_duplicates"]["groups"] >= 20
    split_of = {r["id"]: name for name, rows in _rows(workdir).items() for r in rows}
    straddling = [i for i in range(20) if split_of[f"h{i}"] != split_of[f"t{i}"]]
    assert not straddling
    write_params(workdir / "params.yaml", {"preprocess.split.near_duplicates": False})
    assert preprocess(load_params())["near_duplicates"]["groups"] == 0


def test_workers_give_the_same_output(workdir):
    write_raw(workdir, make_raw_docs(300))
    preprocess(load_params())
    one = _rows(workdir)
    write_params(workdir / "params.yaml", {"preprocess.num_workers": 2})
    preprocess(load_params())
    assert _rows(workdir) == one


def test_max_samples_caps_the_source(workdir):
    write_raw(workdir, make_raw_docs(100))
    write_params(workdir / "params.yaml", {"preprocess.max_samples": 50})
    assert preprocess(load_params())["documents"] == 50


# ------------------------------------------------------------------ predefined (official) splits


def _split_rows(n=90, with_val=True):
    names = ["train", "validation", "test"] if with_val else ["train", "test"]
    rows = []
    for i, d in enumerate(make_raw_docs(n, seed=3)):
        rows.append({"text": d["text"], "polarity": ["neg", "pos"][i % 2], "ref": f"r{i:03d}",
                     "part": names[(i // 2) % len(names)]})  # fmt: skip
    return rows


def _split_params(workdir, extra=None):
    data = {"source": "file", "path": "reviews.csv", "score_column": None, "label_column": "polarity"}
    write_params(
        workdir / "params.yaml", {"data": {**data, "id_column": "ref", "split_column": "part", **(extra or {})}}
    )


def test_a_split_column_is_used_as_given(workdir):
    rows = _split_rows()
    _write_csv(workdir / "reviews.csv", rows)
    _split_params(workdir)
    summary = preprocess(load_params())
    out = _rows(workdir)
    expected = {"train": "train", "validation": "val", "test": "test"}
    for name, split in out.items():
        assert {r["id"] for r in split} == {r["ref"] for r in rows if expected[r["part"]] == name}, name
    assert summary["split_source"] == "column part"
    assert summary["cross_split_duplicates"] == {"exact": 0, "near_groups": 0}


def test_train_test_splits_get_validation_carved_from_train(workdir):
    rows = _split_rows(with_val=False)
    _write_csv(workdir / "reviews.csv", rows)
    _split_params(workdir)
    preprocess(load_params())
    out = _rows(workdir)
    official_test = {r["ref"] for r in rows if r["part"] == "test"}
    assert {r["id"] for r in out["test"]} == official_test  # the test split exactly as given
    assert out["val"] and {r["id"] for r in out["val"]} <= {r["ref"] for r in rows if r["part"] == "train"}
    assert {r["label_name"] for r in out["val"]} == {"neg", "pos"}  # stratified


def test_duplicates_across_predefined_splits_are_reported_not_dropped_from_test(workdir):
    rows = _split_rows()
    copy = next(r for r in rows if r["part"] == "train")
    rows.append({**copy, "ref": "dup-in-test", "part": "test"})  # the same text in train and in test
    rows.append({**copy, "ref": "dup-in-train", "part": "train"})  # and again in train: dropped there
    _write_csv(workdir / "reviews.csv", rows)
    _split_params(workdir)
    summary = preprocess(load_params())
    out = _rows(workdir)
    assert "dup-in-test" in {r["id"] for r in out["test"]}
    assert "dup-in-train" not in {r["id"] for s in out.values() for r in s}
    assert summary["cross_split_duplicates"]["exact"] == 1 and summary["dropped"]["duplicate"] == 1
    assert summary["cross_split_duplicates"]["near_groups"] >= 1


def test_an_unknown_split_name_is_one_line_naming_the_row_and_the_allowed_names(workdir):
    rows = _split_rows(12)
    rows[4]["part"] = "holdout"
    _write_csv(workdir / "reviews.csv", rows)
    _split_params(workdir)
    with pytest.raises(
        DataError, match=r"reviews.csv: row 6: split 'holdout' in column 'part' is not one of: train, val"
    ):
        preprocess(load_params())
    assert not (workdir / "data" / "processed").exists()
