from collections import Counter

import pytest

from pipeline.config import BinsParams
from pipeline.data.labels import ClassMap
from pipeline.data.split import stratified_split


def test_class_map_boundaries():
    cm = ClassMap.from_params(BinsParams())
    assert [cm.label_id(s) for s in (0, 3.99, 4, 6.5, 7, 10)] == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="outside"):
        cm.label_id(10.5)
    ranges = cm.ranges()
    assert ranges[0]["min_score"] == 0 and ranges[-1]["max_score"] == 10 and ranges[-1]["max_inclusive"]
    assert ClassMap.from_json(cm.to_json()) == cm


def test_two_class_map():
    cm = ClassMap.from_params(BinsParams(edges=[5.0], labels=["neg", "pos"]))
    assert cm.label_id(4.9) == 0 and cm.label_id(5) == 1


def test_split_is_stratified_complete_disjoint_and_seeded():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    parts = stratified_split(labels, val=0.1, test=0.2, seed=1)
    all_idx = parts["train"] + parts["val"] + parts["test"]
    assert sorted(all_idx) == list(range(100))
    assert Counter(labels[i] for i in parts["test"]) == {0: 10, 1: 6, 2: 4}
    assert Counter(labels[i] for i in parts["val"]) == {0: 5, 1: 3, 2: 2}
    assert stratified_split(labels, 0.1, 0.2, seed=1) == parts
    assert stratified_split(labels, 0.1, 0.2, seed=2) != parts


def test_small_classes_still_reach_val_and_test():
    parts = stratified_split([0] * 40 + [1] * 3, val=0.1, test=0.1, seed=0)
    assert any(i >= 40 for i in parts["val"]) and any(i >= 40 for i in parts["test"])
