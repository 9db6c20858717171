"""The linear floors: word TF-IDF, word + character TF-IDF, NB-SVM; C on validation; the gate's floor."""

import random

import numpy as np
import pytest

from pipeline.config import RegistryParams
from pipeline.evaluation import gate
from pipeline.models.baselines import BETA_GRID, NBSVM_C_GRID, NbSvm, TfidfLinear, make_floor
from pipeline.models.registry import floors, kind
from tests.conftest import NEGATIVE, NEUTRAL, POSITIVE

FLOORS = ["tfidf_linear", "tfidf_char_word", "nbsvm"]
FILLER = ["مطعم", "خدمة", "كان", "جدا", "المكان", "الطعام"]


def _docs(n: int, classes: int, seed: int) -> tuple[list[list[str]], list[int]]:
    rng = random.Random(seed)
    cues = [POSITIVE, NEGATIVE, NEUTRAL][:classes]
    y = [rng.randrange(classes) for _ in range(n)]
    docs = []
    for label in y:
        words = [rng.choice(FILLER) for _ in range(6)] + [rng.choice(cues[label])]
        if rng.random() < 0.2:  # some noise so validation has something to choose on
            words.append(rng.choice(cues[(label + 1) % classes]))
        rng.shuffle(words)
        docs.append(words)
    return docs, y


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("arch", FLOORS)
def test_each_floor_learns_and_gives_probabilities(arch, classes):
    x, y = _docs(500, classes, seed=classes)
    model = make_floor(arch).fit(x[:300], y[:300], x[300:400], y[300:400])
    accuracy = np.mean(np.array(model.predict(x[400:])) == np.array(y[400:]))
    assert accuracy > 0.8, (arch, accuracy)
    proba = np.array(model.predict_proba(x[400:]))
    assert proba.shape == (100, classes) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == np.array(model.predict(x[400:]))).all()
    assert model.c is not None and model.val_f1_macro is not None and model.parameter_count() > 0


def test_nbsvm_log_count_ratio_points_to_the_class_of_a_cue_word():
    x, y = _docs(400, 2, seed=5)
    model = NbSvm().fit(x, y)
    vocab = model.model.vectorizer.vocabulary_
    # column 1 is class 1 (NEGATIVE cues): a negative cue word has a positive ratio there, a positive cue a negative one
    assert model.model.r[1, vocab[NEGATIVE[0]]] > 0 > model.model.r[1, vocab[POSITIVE[0]]]
    assert model.c == 1.0  # no validation: the default C


def test_nbsvm_c_is_chosen_on_validation_and_temperature_fitted():
    x, y = _docs(500, 3, seed=7)
    model = NbSvm().fit(x[:300], y[:300], x[300:400], y[300:400])
    assert model.c in NBSVM_C_GRID and model.beta in BETA_GRID and model.model.temperature > 0
    # a temperature fitted on validation makes the validation log-loss no worse than the raw margins' softmax
    from scipy.special import log_softmax

    margins = model._fit_one(model.c, x[:300], y[:300]).margins(x[300:400])
    raw = -log_softmax(margins, axis=1)[np.arange(100), y[300:400]].mean()
    scaled = -log_softmax(margins / model.model.temperature, axis=1)[np.arange(100), y[300:400]].mean()
    assert scaled <= raw + 1e-9


def test_char_word_features_see_inside_words():
    # the test words are unseen as words but share character n-grams with the training words (a clitic added)
    x = [["جميل"], ["رائع"], ["سيء"], ["رديء"]] * 10
    y = [0, 0, 1, 1] * 10
    word = TfidfLinear().fit(x, y)
    char = TfidfLinear(features="char_word").fit(x, y)
    unseen = [["والجميل"], ["والسيء"]]
    assert char.predict(unseen) == [0, 1]
    assert np.allclose(word.predict_proba(unseen)[0], word.predict_proba(unseen)[1])  # words alone: no signal


def test_single_class_training_data_is_refused_with_a_message():
    with pytest.raises(ValueError, match="at least two classes"):
        NbSvm().fit([["a"], ["b"]], [0, 0])


def test_floors_are_baselines_and_the_gate_holds_a_network_to_the_best_of_them():
    assert floors(["lstm", *FLOORS, "cnn"]) == FLOORS and all(kind(a) == "baseline" for a in FLOORS)
    reg = RegistryParams()
    assert gate.decide(reg, "cnn", "1", 0.60, 0.65, None, None).decision == "kept"
    assert "linear floor 0.6500" in gate.decide(reg, "cnn", "1", 0.60, 0.65, None, None).reason
    named = gate.decide(reg, "cnn", "1", 0.60, 0.65, None, None, "nbsvm")
    assert "does not beat the nbsvm floor 0.6500" in named.reason and named.figures["floor_arch"] == "nbsvm"
    assert gate.decide(reg, "nbsvm", "1", 0.60, 0.65, None, None).decision == "first"  # a floor is not held to it
