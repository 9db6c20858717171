"""Known values for the evaluation statistics (pipeline/evaluation/stats.py)."""

import math

import numpy as np
import pytest

from pipeline.evaluation.stats import bootstrap_ci, calibration, holm, macro_f1, mcnemar, mean_std, pr_curves


def test_macro_f1_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    yt, yp = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    yp[:10] = 3  # and a class never true in a small slice below
    assert macro_f1(yt, yp, 4) == pytest.approx(f1_score(yt, yp, labels=[0, 1, 2, 3], average="macro"))
    assert macro_f1([0, 0, 1], [0, 0, 0], 3) == pytest.approx(
        f1_score([0, 0, 1], [0, 0, 0], labels=[0, 1, 2], average="macro", zero_division=0)
    )


def test_mcnemar_exact_on_a_hand_computed_table():
    # A right / B wrong on 1 document, A wrong / B right on 6: two-sided exact binomial
    # p = 2 * P(X <= 1 | n=7, 1/2) = 2 * (1 + 7) / 128 = 0.125
    a = [True] * 10 + [True] + [False] * 6
    b = [True] * 10 + [False] + [True] * 6
    res = mcnemar(a, b)
    assert (res["b"], res["c"]) == (1, 6)
    assert res["method"] == "exact binomial"
    assert res["p_value"] == pytest.approx(0.125)


def test_mcnemar_chi_square_with_continuity_correction():
    # b = 40, c = 20: (|40 - 20| - 1)^2 / 60 = 361 / 60; p from chi2(1)
    a = [True] * 40 + [False] * 20 + [True] * 30
    b = [False] * 40 + [True] * 20 + [True] * 30
    res = mcnemar(a, b, exact_below=25)
    assert res["statistic"] == pytest.approx(361 / 60)
    assert res["method"].startswith("chi-square")
    assert res["p_value"] == pytest.approx(math.erfc(math.sqrt(361 / 60 / 2)))  # chi2(1) survival


def test_mcnemar_identical_predictions_are_not_different():
    assert mcnemar([True, False, True], [True, False, True])["p_value"] == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar([True], [True, False])


def test_holm_adjustment():
    # sorted 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone), returned in the input order
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_ece_zero_when_perfectly_calibrated_and_known_otherwise():
    # 10 documents at confidence 0.8 of which 8 right, 10 at 0.3 of which 3 right: calibrated
    conf = [0.8] * 10 + [0.3] * 10
    correct = [True] * 8 + [False] * 2 + [True] * 3 + [False] * 7
    res = calibration(conf, correct, bins=10)
    assert res["ece"] == pytest.approx(0.0, abs=1e-9)
    assert sum(b["count"] for b in res["bins"]) == 20
    # all at confidence 0.9 but only half right: ECE = 0.4
    assert calibration([0.9] * 4, [True, False, True, False], bins=10)["ece"] == pytest.approx(0.4)
    # a confidence of exactly 1 lands in the last bin, 0 in the first
    bins = calibration([1.0, 0.0], [True, False], bins=5)["bins"]
    assert bins[-1]["count"] == 1 and bins[0]["count"] == 1


def test_bootstrap_ci_contains_the_estimate_narrows_with_n_and_is_seeded():
    rng = np.random.default_rng(0)

    def data(n):
        yt = rng.integers(0, 3, n)
        yp = np.where(rng.random(n) < 0.7, yt, rng.integers(0, 3, n))
        return yt, yp

    yt, yp = data(100)
    ci = bootstrap_ci(yt, yp, 3, resamples=500, seed=1)
    acc = float((yt == yp).mean())
    assert ci["accuracy"]["low"] <= acc <= ci["accuracy"]["high"]
    assert ci["f1_macro"]["low"] <= macro_f1(yt, yp, 3) <= ci["f1_macro"]["high"]
    assert ci == bootstrap_ci(yt, yp, 3, resamples=500, seed=1)
    big_t, big_p = data(2000)
    big = bootstrap_ci(big_t, big_p, 3, resamples=500, seed=1)
    width = ci["accuracy"]["high"] - ci["accuracy"]["low"]
    assert big["accuracy"]["high"] - big["accuracy"]["low"] < width / 2
    with pytest.raises(ValueError, match="level"):
        bootstrap_ci(yt, yp, 3, level=1.5)


def test_pr_curves_perfect_and_missing_class():
    probs = [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.7, 0.3, 0.0], [0.1, 0.9, 0.0]]
    res = pr_curves([0, 1, 0, 1], probs, ["a", "b", "c"])
    assert res["a"]["average_precision"] == pytest.approx(1.0)
    assert res["b"]["recall"][0] == 1.0 and res["b"]["recall"][-1] == 0.0
    assert res["c"]["average_precision"] is None  # no true member in the test split


def test_mean_std():
    assert mean_std([0.5]) == (0.5, 0.0)
    assert mean_std([0.4, 0.6]) == (0.5, pytest.approx(0.1414, abs=1e-4))


def test_macro_f1_is_vectorised_over_resamples():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(5)
    yt, yp = rng.integers(0, 3, (4, 50)), rng.integers(0, 3, (4, 50))
    expected = [f1_score(t, p, labels=[0, 1, 2], average="macro", zero_division=0) for t, p in zip(yt, yp, strict=True)]
    assert macro_f1(yt, yp, 3) == pytest.approx(expected)
    assert macro_f1(yt.T, yp.T, 3, axis=0) == pytest.approx(expected)


def _hand_written_bootstrap(yt, yp, num_classes, resamples, level, seed):
    """The evaluate stage's interval before scipy.stats.bootstrap, as the reference."""
    idx = np.random.default_rng(seed).integers(0, len(yt), size=(resamples, len(yt)))
    acc = (yt[idx] == yp[idx]).mean(axis=1)
    f1 = np.array([macro_f1(yt[i], yp[i], num_classes) for i in idx])
    q = [(1 - level) / 2, (1 + level) / 2]
    return {
        name: dict(zip(("low", "high"), np.quantile(v, q), strict=True))
        for name, v in (("accuracy", acc), ("f1_macro", f1))
    }


def test_bootstrap_ci_matches_the_hand_written_percentile_bootstrap():
    # scipy draws its resamples from the same generator, so the intervals agree up to resampling detail
    # (with numpy 2.4 and scipy 1.17 they are identical); the level and resample count are kept
    rng = np.random.default_rng(2)
    yt = rng.integers(0, 3, 78)
    yp = np.where(rng.random(78) < 0.6, yt, rng.integers(0, 3, 78))
    for level in (0.9, 0.95):
        ours = bootstrap_ci(yt, yp, 3, resamples=1000, level=level, seed=42)
        ref = _hand_written_bootstrap(yt, yp, 3, 1000, level, 42)
        for name in ("accuracy", "f1_macro"):
            assert ours[name]["low"] == pytest.approx(ref[name]["low"], abs=0.02)
            assert ours[name]["high"] == pytest.approx(ref[name]["high"], abs=0.02)
    # one document: scipy needs two, every resample of one document is that document
    assert bootstrap_ci([1], [1], 3) == {
        "accuracy": {"low": 1.0, "high": 1.0},
        "f1_macro": {"low": 0.3333, "high": 0.3333},
    }


def test_ece_is_torchmetrics_top_label_calibration_error_and_matches_its_bins():
    import torch
    from torchmetrics.functional.classification import multiclass_calibration_error

    rng = np.random.default_rng(4)
    logits = rng.normal(size=(300, 3)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, 300)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    res = calibration(conf, correct, bins=10)
    tm = multiclass_calibration_error(torch.from_numpy(probs), torch.from_numpy(y), num_classes=3, n_bins=10)
    assert res["ece"] == pytest.approx(float(tm), abs=1e-4)
    from_bins = sum(b["count"] / 300 * abs(b["accuracy"] - b["confidence"]) for b in res["bins"] if b["count"])
    assert res["ece"] == pytest.approx(from_bins, abs=1e-3)
    # the hand-written (lower, upper] binning it replaced gives the same ECE when no confidence sits on an edge
    which = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)
    old = 0.0
    for b in set(which.tolist()):
        sel = which == b
        old += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    assert res["ece"] == pytest.approx(old, abs=1e-4)


def test_ece_bins_are_closed_on_the_left_like_torchmetrics():
    # a standard but different choice at the edges from the old (lower, upper] bins: 0.8 falls in [0.8, 0.9);
    # 1.0 stays in the last bin (torchmetrics alone would count it in an extra bin, see calibration())
    bins = calibration([0.8, 1.0], [True, True], bins=10)["bins"]
    assert bins[8]["count"] == 1 and bins[7]["count"] == 0
    assert bins[9]["count"] == 1 and bins[9]["confidence"] == 1.0
    assert calibration([1.0, 1.0], [True, False], bins=10)["ece"] == pytest.approx(0.5)
