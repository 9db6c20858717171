"""Token explanations (pipeline/evaluation/interpret.py): the weights are the ones the networks use, integrated
gradients are complete, every network family explains through the predictor."""

import pytest
import torch

from pipeline.config import TrainParams
from pipeline.evaluation.interpret import default_method, explain_network, self_attention_maps
from pipeline.models.networks import _mask, build_network
from pipeline.models.registry import ARCHITECTURES, is_neural
from pipeline.serving.predict import NetworkPredictor
from pipeline.text.vocab import Vocab

TOKENS = ["رائع", "جدا", "المكان", "نظيف", "لكن", "الخدمه", "بطيئه"]


def net(arch: str, **overrides):
    torch.manual_seed(0)
    tp = TrainParams(embedding_dim=8, hidden_dim=8, cnn_filters=4, transformer_ff_dim=16, **overrides)
    return build_network(arch, 20, 3, tp).eval()


IDS = [5, 9, 2, 7, 11, 3, 14]


@pytest.mark.parametrize(
    ("arch", "pooling", "method"),
    [
        ("lstm", "mean", "integrated_gradients"),
        ("bigru", "attention", "attention"),
        ("cnn", "mean", "integrated_gradients"),
        ("nbow", "mean", "integrated_gradients"),
        ("encdec", "mean", "attention"),
        ("transformer", "mean", "attention_rollout"),
        ("transformer", "attention", "attention"),
    ],
)
def test_every_family_explains_each_token(arch, pooling, method):
    model = net(arch, pooling=pooling)
    assert default_method(model) == method
    out = explain_network(model, IDS, TOKENS)
    assert out["method"] == method and out["tokens"] == TOKENS and len(out["scores"]) == len(TOKENS)
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([IDS]), torch.tensor([len(IDS)])), -1)[0]
    assert out["predicted"] == int(probs.argmax())
    if method != "integrated_gradients":  # a distribution over the tokens
        assert sum(out["scores"]) == pytest.approx(1.0, abs=1e-4) and min(out["scores"]) >= 0


@pytest.mark.parametrize("arch", sorted(a for a in ARCHITECTURES if is_neural(a)))
def test_every_registered_network_explains_with_its_default_method(arch):
    # the evaluate stage explains a few test documents of every trained architecture
    out = explain_network(net(arch), IDS, TOKENS)
    assert out["tokens"] == TOKENS and len(out["scores"]) == len(TOKENS)
    assert all(s == s for s in out["scores"])  # no NaN


def test_attention_pooling_weights_are_the_ones_the_encoder_uses():
    model = net("lstm", pooling="attention")
    ids, n = torch.tensor([IDS]), torch.tensor([len(IDS)])
    weights = torch.tensor(explain_network(model, IDS, TOKENS)["scores"])
    with torch.no_grad():
        states, _ = model.encoder.states(ids, n)
        pooled = model.encoder(ids, n)[0]
    assert torch.allclose((weights[:, None] * states[0]).sum(0), pooled, atol=1e-4)


def test_transformer_maps_come_from_the_same_computation_as_the_encoder():
    model = net("transformer")
    ids = torch.tensor([[*IDS, 0, 0]])  # padded: keys on padding get no attention
    n = torch.tensor([len(IDS)])
    with torch.no_grad():
        maps, states = self_attention_maps(model.encoder, ids, n)
        x = model.encoder.embedding(ids) + model.encoder.positions(torch.arange(ids.size(1)))[None]
        expected = model.encoder.encoder(x, src_key_padding_mask=~_mask(ids, n))
    assert len(maps) == 2 and torch.allclose(states[0, : len(IDS)], expected[0, : len(IDS)], atol=1e-5)
    assert torch.allclose(maps[0][0].sum(-1), torch.ones(ids.size(1)), atol=1e-5)
    assert float(maps[-1][0, :, len(IDS) :].abs().max()) == 0.0


@pytest.mark.parametrize("arch", ["lstm", "cnn", "encdec", "nbow", "cnn_bag"])
def test_integrated_gradients_add_up_to_the_logit_difference(arch):
    model = net(arch)
    out = explain_network(model, IDS, TOKENS, method="integrated_gradients", steps=64)
    ids, n = torch.tensor([IDS]), torch.tensor([len(IDS)])
    with torch.no_grad():
        diff = model(ids, n)[0, out["predicted"]] - model(torch.zeros_like(ids), n)[0, out["predicted"]]
    assert sum(out["scores"]) == pytest.approx(float(diff), abs=0.02 + 0.02 * abs(float(diff)))
    assert out["delta"] < 0.05


def test_nbow_attributions_are_exact_and_follow_the_rows():
    model = net("nbow")
    ids, n = torch.tensor([IDS]), torch.tensor([len(IDS)])
    out = explain_network(model, IDS, TOKENS)
    target = out["predicted"]
    with torch.no_grad():
        logit = model(ids, n)[0, target] - model.head.bias[target]
    assert sum(out["scores"]) == pytest.approx(float(logit), abs=1e-5) and out["delta"] < 1e-5
    # a word row pointing along the class's head row makes that token the strongest evidence
    with torch.no_grad():
        model.encoder.embedding.weight[IDS[3]] = 5 * model.head.weight[target]
    scores = explain_network(model, IDS, TOKENS)["scores"]
    assert max(range(len(IDS)), key=scores.__getitem__) == 3


def test_predictor_explain_and_bad_method():
    from pipeline.training.module import ClassifierModule

    itos = ["<pad>", "<unk>", *TOKENS]
    module = ClassifierModule("gru", len(itos), 3, TrainParams(embedding_dim=8, hidden_dim=8).model_dump())
    predictor = NetworkPredictor("gru", module, Vocab(itos))
    row = {"tokens": [*TOKENS, "غريب"], "text": "…"}
    out = predictor.explain(row)
    assert out["tokens"] == row["tokens"] and out["method"] == "integrated_gradients"
    assert out["predicted"] == max(range(3), key=predictor.predict_proba([row])[0].__getitem__)
    with pytest.raises(ValueError, match="unknown explanation method"):
        predictor.explain(row, method="saliency")
    with pytest.raises(ValueError, match="rollout needs a transformer"):
        predictor.explain(row, method="attention_rollout")
