"""Prior correction (train.prior_correction): offsets chosen on validation, folded into the saved network."""

import json

import numpy as np
import pytest

from pipeline.training.prior import HEAD_BIAS, choose_offsets
from tests.conftest import make_raw_docs, write_params, write_raw


def test_balanced_classes_get_no_correction():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 3))
    chosen = choose_offsets(logits, [i % 3 for i in range(60)], [i % 3 for i in range(300)], 3)
    assert chosen["alpha"] == 0.0
    assert chosen["offsets"] == [0.0, 0.0, 0.0]
    assert chosen["val_f1_macro"] == chosen["val_f1_macro_before"]


def seventy_thirty(first: list[float], second: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Validation labels: 70 of class 0, then 30 of class 1; logits ``first`` for the 70, ``second`` for the 30."""
    return np.array([0] * 70 + [1] * 30), np.array([first] * 70 + [second] * 30)


def test_a_network_that_ignores_the_small_class_is_moved_towards_it():
    # 70 documents of class 0 and 30 of class 1; the network ranks them right but never says 1 (margin -0.5)
    y, logits = seventy_thirty([2.0, 0.0], [0.5, 0.0])
    chosen = choose_offsets(logits, y, [0] * 700 + [1] * 300, 2)
    assert chosen["val_accuracy_before"] == pytest.approx(0.7)  # the majority class's, F1 of class 1 is 0
    assert chosen["alpha"] > 0
    assert chosen["offsets"][1] > chosen["offsets"][0]
    assert chosen["val_f1_macro"] == pytest.approx(1.0)
    assert chosen["val_accuracy"] >= chosen["majority_val_accuracy"] == pytest.approx(0.7)


def test_a_network_below_the_majority_class_is_moved_back_to_it():
    # every class-0 document leans to class 1 by 0.3: accuracy 0.3 against the majority class's 0.7
    y, logits = seventy_thirty([0.0, 0.3], [0.0, 3.0])
    chosen = choose_offsets(logits, y, [0] * 700 + [1] * 300, 2)
    assert chosen["val_accuracy_before"] == pytest.approx(0.3)
    assert chosen["alpha"] < 0
    assert chosen["val_accuracy"] >= chosen["majority_val_accuracy"]
    assert chosen["val_f1_macro"] > chosen["val_f1_macro_before"]


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    """A project whose positive class is about 3/4 of the documents."""
    from pipeline.config import load_params
    from pipeline.data.preprocessing import preprocess

    root = tmp_path_factory.mktemp("prior")
    docs = [d for i, d in enumerate(make_raw_docs(400)) if d["score"] >= 7 or i % 5 == 0]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        overrides = {
            "train.max_epochs": 2,
            "train.patience": 2,
            "train.embedding_dim": 8,
            "train.cnn_filters": 4,
            "train.lr": 0.003,
            "train.num_threads": 1,  # a fixed count: the two trainings compared below give the same floats
            "preprocess.min_token_freq": 1,
            "train.architectures": ["cnn"],
            "tune.architectures": [],
        }
        write_params(root / "params.yaml", overrides)
        write_raw(root, docs)
        params = load_params()
        preprocess(params)
        yield root, params, mp


def test_the_chosen_offsets_are_in_the_saved_network_and_nothing_else_changes(imbalanced):
    import torch

    from pipeline.stages.train import train
    from pipeline.training.data import ReviewDataModule
    from pipeline.training.module import ClassifierModule
    from pipeline.training.prior import validation_logits

    root, params, _ = imbalanced
    labels = [json.loads(x)["label"] for x in (root / "data/processed/train.jsonl").read_text().splitlines()]
    assert max(np.bincount(labels)) / len(labels) > 0.6  # imbalanced indeed

    def trained(mode: str) -> tuple[dict, dict]:
        tp = params.train.model_copy(update={"prior_correction": mode})
        rec = train(params.model_copy(update={"train": tp}), "cnn").model_dump()
        ckpt = torch.load(root / "models/cnn/best.ckpt", map_location="cpu", weights_only=True)
        return rec, ckpt["state_dict"]

    plain_rec, plain = trained("none")
    rec, corrected = trained("auto")
    assert plain_rec["prior_correction"] is None
    chosen = rec["prior_correction"]
    # the same choice made again from the uncorrected network's validation logits
    module = ClassifierModule.load_from_checkpoint(root / "models/cnn/best.ckpt", map_location="cpu", weights_only=True)
    module.net.head.bias.data.copy_(plain[HEAD_BIAS])
    dm = ReviewDataModule(params.base.processed_dir, 16, params.train.max_length)
    again = choose_offsets(validation_logits(module, dm.split("val")), dm.split("val").labels, labels, 3)
    assert again == chosen
    for key, value in plain.items():
        if key == HEAD_BIAS:
            assert (corrected[key] - value).tolist() == pytest.approx(chosen["offsets"], abs=1e-6)
        else:
            assert torch.equal(corrected[key], value), key
    if chosen["val_accuracy_before"] >= chosen["majority_val_accuracy"]:  # alpha 0 was a candidate
        assert chosen["val_f1_macro"] >= chosen["val_f1_macro_before"]


def test_folded_offsets_reach_the_inference_path(imbalanced, tmp_path):
    import shutil

    import torch

    from pipeline.models.networks import collate
    from pipeline.serving.predict import load_classifier_network
    from pipeline.stages.train import train
    from pipeline.training.data import ReviewDataModule
    from pipeline.training.prior import fold_into_checkpoint

    root, params, _ = imbalanced
    tp = params.train.model_copy(update={"prior_correction": "none", "max_epochs": 1})
    train(params.model_copy(update={"train": tp}), "cnn")
    copy = tmp_path / "best.ckpt"
    shutil.copy(root / "models/cnn/best.ckpt", copy)
    fold_into_checkpoint(copy, [0.5, -0.25, 0.0])
    batch = collate(list(ReviewDataModule(params.base.processed_dir, 16, tp.max_length).split("val"))[:8])
    with torch.inference_mode():
        before = load_classifier_network(root / "models/cnn/best.ckpt")(batch["ids"], batch["lengths"])
        after = load_classifier_network(copy)(batch["ids"], batch["lengths"])
    assert (after - before).flatten().tolist() == pytest.approx([0.5, -0.25, 0.0] * 8, abs=1e-6)
