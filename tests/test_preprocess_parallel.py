"""The preprocess stage with a process pool: the same bytes as one process, batches in flight, near-duplicate
groups from spilled signatures equal to the in-memory grouping."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import load_params
from pipeline.data import preprocessing
from pipeline.data.dedup import NUM_PERM, group_near_duplicates
from tests.conftest import make_raw_docs, write_params, write_raw

OUTPUTS = ("train.jsonl", "val.jsonl", "test.jsonl", "vocab.json", "classes.json", "summary.json")


def _docs() -> list[dict]:
    docs = make_raw_docs(150, seed=3)
    for i in range(0, 40, 4):  # near-duplicates (one word changed) and an exact duplicate
        docs.append({**docs[i], "url": f"http://127.0.0.1/near/{i}", "text": docs[i]["text"] + " جدا"})
    docs.append({**docs[5], "url": "http://127.0.0.1/exact"})
    return docs


def _run(root, workers: int) -> dict[str, bytes]:
    write_params(root / "params.yaml", {"preprocess.num_workers": workers, "preprocess.min_token_freq": 1})
    write_raw(root, _docs())
    summary = preprocessing.preprocess(load_params())
    assert summary["dropped"]["duplicate"] == 1 and summary["near_duplicates"]["groups"] >= 5
    return {name: (root / "data" / "processed" / name).read_bytes() for name in OUTPUTS}


@pytest.mark.distributed
def test_two_workers_write_the_same_bytes_as_one_process(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(preprocessing, "BATCH", 7)  # many batches, several in flight per worker
    monkeypatch.setattr(preprocessing, "BAND_READ", 5)  # bands gathered from the spill file in many reads
    outputs = {}
    for workers in (1, 2):
        (tmp_path / str(workers)).mkdir()
        monkeypatch.chdir(tmp_path / str(workers))
        outputs[workers] = _run(tmp_path / str(workers), workers)
    assert outputs[1] == outputs[2]


def test_spilled_signatures_group_like_the_matrix_in_memory(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preprocessing, "BAND_READ", 3)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, size=(20, NUM_PERM), dtype=np.uint32)
    near = base[:6].copy()
    near[:, ::9] += 1  # 8 of 64 values changed: Jaccard estimate 0.875
    matrix = np.vstack([base, near])
    spill = preprocessing.SpilledSignatures(tmp_path / "sigs.u32")
    for start in range(0, len(matrix), 4):
        spill.append(list(matrix[start : start + 4]))
    spill.close()
    assert spill.rows == 26 and np.array_equal(spill.matrix(), matrix)
    assert np.array_equal(spill.band(3), matrix[:, 12:16])
    expected = group_near_duplicates(matrix, 0.8)
    assert group_near_duplicates(spill.matrix(), 0.8, spill.band) == expected
    assert expected[20:] == list(range(6))
