import pytest
import torch

from pipeline.config import TrainParams
from pipeline.models.networks import build_network
from pipeline.models.registry import ARCHITECTURES


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_every_architecture_builds_and_ignores_padding(arch, pooling):
    torch.manual_seed(0)
    net = build_network(
        arch, vocab_size=50, num_classes=3, tp=TrainParams(pooling=pooling, hidden_dim=8, embedding_dim=8)
    )
    net.eval()
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    lengths = torch.tensor([3, 5])
    out = net(ids, lengths)
    assert out.shape == (2, 3)
    # the same document without padding gives the same output
    alone = net(ids[:1, :3], lengths[:1])
    torch.testing.assert_close(out[:1], alone)


def test_bidirectional_doubles_the_encoder_width():
    tp = TrainParams(hidden_dim=8, embedding_dim=8)
    assert build_network("bilstm", 20, 2, tp).encoder.output_dim == 16
    assert build_network("lstm", 20, 2, tp).encoder.output_dim == 8


def test_unknown_architecture():
    with pytest.raises(ValueError, match="allowed"):
        build_network("cnn9", 10, 2, TrainParams())
