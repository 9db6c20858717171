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
