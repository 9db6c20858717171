import pytest
import torch

from pipeline.config import ParamsError, TrainParams, parse_params
from pipeline.models.networks import build_network
from pipeline.models.registry import ARCHITECTURES, is_neural

NEURAL = sorted(a for a in ARCHITECTURES if is_neural(a))


@pytest.mark.parametrize("arch", NEURAL)
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_every_architecture_builds_and_ignores_padding(arch, pooling):
    torch.manual_seed(0)
    net = build_network(
        arch, vocab_size=50, num_classes=3, tp=TrainParams(pooling=pooling, hidden_dim=8, embedding_dim=8)
    )
    net.eval()
    ids = torch.tensor([[5, 6, 7, 0, 0, 0, 0], [8, 9, 10, 11, 12, 13, 14]])
    lengths = torch.tensor([3, 7])
    out = net(ids, lengths)
    assert out.shape == (2, 3)
    # the same document without padding gives the same output
    alone = net(ids[:1, :3], lengths[:1])
    torch.testing.assert_close(out[:1], alone)
    # and a gradient reaches every parameter (nothing registered but unused)
    net.train()
    net(ids, lengths).sum().backward()
    unused = [n for n, p in net.named_parameters() if p.grad is None and "embedding" not in n]
    assert not unused, unused


def test_registry_has_the_zoo():
    assert {"transformer", "cnn", "encdec", "tfidf_linear"} <= set(ARCHITECTURES)
    assert not is_neural("tfidf_linear") and is_neural("cnn")


def test_bidirectional_doubles_the_encoder_width():
    tp = TrainParams(hidden_dim=8, embedding_dim=8)
    assert build_network("bilstm", 20, 2, tp).encoder.output_dim == 16
    assert build_network("lstm", 20, 2, tp).encoder.output_dim == 8


def test_cnn_has_one_convolution_per_kernel_size():
    net = build_network("cnn", 20, 2, TrainParams(embedding_dim=8, cnn_kernel_sizes=[1, 3, 5], cnn_filters=4))
    assert [c.kernel_size[0] for c in net.encoder.convs] == [1, 3, 5]
    assert net.encoder.output_dim == 12


def test_nbow_rows_start_small_and_padding_is_zero():
    torch.manual_seed(0)
    enc = build_network("nbow", 2000, 2, TrainParams(embedding_dim=32, ngram_buckets=5000)).encoder
    for table in (enc.embedding, enc.bigrams):
        assert 0.015 < table.weight[1:].std().item() < 0.025
    assert enc.embedding.weight[0].abs().sum().item() == 0.0


def test_cnn_bag_joins_both_halves_over_one_word_table():
    from pipeline.training.module import ClassifierModule

    tp = TrainParams(embedding_dim=8, cnn_kernel_sizes=[2, 3], cnn_filters=4, ngram_buckets=100)
    module = ClassifierModule("cnn_bag", 30, 2, tp.model_dump())
    enc = module.net.encoder
    assert enc.output_dim == 2 * 4 + 8 and enc.bag.embedding is enc.cnn.embedding
    ids, lengths = torch.tensor([[5, 6, 7, 8]]), torch.tensor([4])
    with torch.no_grad():
        expected = torch.cat([enc.cnn(ids, lengths), enc.bag(ids, lengths)], dim=-1)
    torch.testing.assert_close(enc(ids, lengths), expected)
    vectors = torch.randn(30, 8)
    module.set_embeddings(vectors)  # pretrained vectors reach the convolutions and the bag alike
    torch.testing.assert_close(enc.bag.embedding.weight, vectors)
    torch.testing.assert_close(enc.cnn.embedding.weight, vectors)


def test_bag_bigram_rows_skip_padding():
    enc = build_network("nbow", 50, 2, TrainParams(embedding_dim=4, ngram_buckets=7)).encoder
    rows = enc.bigram_ids(torch.tensor([[3, 4, 9, 0, 0]]))[0].tolist()
    assert all(1 <= r < 7 for r in rows[:2]) and rows[2:] == [0, 0]
    assert enc.bigrams.weight[0].abs().sum().item() == 0.0


def test_transformer_uses_the_declared_sizes():
    tp = TrainParams(embedding_dim=16, transformer_layers=3, transformer_heads=4, transformer_ff_dim=24)
    enc = build_network("transformer", 20, 2, tp).encoder
    assert len(enc.encoder.layers) == 3
    layer = enc.encoder.layers[0]
    assert layer.self_attn.num_heads == 4 and layer.linear1.out_features == 24
    assert enc.positions.num_embeddings == tp.max_length


def test_transformer_heads_must_divide_the_embedding():
    with pytest.raises(ParamsError, match="transformer_heads"):
        parse_params({"train": {"embedding_dim": 30, "transformer_heads": 4}})
    with pytest.raises(ParamsError, match="cnn_kernel_sizes"):
        parse_params({"train": {"cnn_kernel_sizes": []}})


def test_unknown_architecture_and_baseline_have_no_network():
    with pytest.raises(ValueError, match="allowed"):
        build_network("cnn9", 10, 2, TrainParams())
    with pytest.raises(ValueError, match="not a neural network"):
        build_network("tfidf_linear", 10, 2, TrainParams())
