"""Why a network predicted what it did, token by token.

:func:`explain_network` gives, for one document, a score per (preprocessed) token:

- ``attention``: the weights of the learned attention pooling (``train.pooling: attention``, recurrent
  or transformer networks) or of the encoder-decoder's additive attention; they sum to 1.
- ``attention_rollout``: the transformer encoder's self-attention (averaged over heads, plus the
  residual identity, renormalised) multiplied through the layers (Abnar & Zuidema, 2020); a token's
  score is the attention the pooled positions pay to it. They sum to 1.
- ``integrated_gradients``: captum ``LayerIntegratedGradients`` on the embedding layer, from an
  all-padding baseline to the document, for the predicted class, summed over embedding dimensions
  (recurrent, CNN and bag networks). Positive scores push towards the prediction; they add up to the
  logit difference between the document and the baseline (``delta`` says how far off that is).
  ``nbow`` and ``cnn_bag`` integrate over the word and the bigram tables together (a bigram's share
  goes half to each of its tokens); padding's rows are zero in both, so the baseline is the empty
  document. ``nbow`` is linear in its rows, so its scores add up exactly to the logit minus the bias.

The result is ``{"tokens", "scores", "method", "predicted", "probabilities"}`` (plus ``delta`` for
integrated gradients) and is what :meth:`pipeline.serving.predict.NetworkPredictor.explain` returns.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from pipeline.models.networks import (
    CNNBagEncoder,
    CNNEncoder,
    EncoderDecoderNet,
    NgramBagEncoder,
    RecurrentEncoder,
    TransformerEncoderNet,
    _mask,
)

METHODS = ("auto", "attention", "attention_rollout", "integrated_gradients")
INTEGRABLE = (RecurrentEncoder, CNNEncoder, EncoderDecoderNet, TransformerEncoderNet, NgramBagEncoder, CNNBagEncoder)


def default_method(net: torch.nn.Module) -> str:
    """Attention where the network has it, integrated gradients otherwise."""
    enc = net.encoder
    if isinstance(enc, EncoderDecoderNet):
        return "attention"
    if isinstance(enc, RecurrentEncoder | TransformerEncoderNet) and enc.pooling == "attention":
        return "attention"
    if isinstance(enc, TransformerEncoderNet):
        return "attention_rollout"
    return "integrated_gradients"


def pooling_attention(net: torch.nn.Module, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Weights of the learned attention pooling (recurrent/transformer with ``pooling: attention``) or of
    the encoder-decoder's attention, shape (batch, time)."""
    enc = net.encoder
    if isinstance(enc, EncoderDecoderNet):
        states, final = enc.encoder.states(ids, lengths)
        mask = _mask(ids, lengths)
        query = torch.tanh(enc.query(final))
        scores = enc.energy(torch.tanh(enc.keys(states) + query[:, None, :])).squeeze(-1)
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    if getattr(enc, "attention", None) is None:
        raise ValueError(f"{type(enc).__name__} with pooling {getattr(enc, 'pooling', '?')!r} has no attention pooling")
    captured: dict[str, Any] = {}

    def hook(module: torch.nn.Module, args: tuple[torch.Tensor, torch.Tensor], output: torch.Tensor) -> None:
        states, mask = args
        scores = module.score(states).squeeze(-1).masked_fill(~mask, float("-inf"))
        captured["weights"] = torch.softmax(scores, dim=-1)

    handle = enc.attention.register_forward_hook(hook)
    try:
        enc(ids, lengths)
    finally:
        handle.remove()
    return captured["weights"]


def self_attention_maps(
    enc: TransformerEncoderNet, ids: torch.Tensor, lengths: torch.Tensor
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Per layer, the self-attention averaged over heads, shape (batch, query, key), and the final token
    states; runs the layers one by one exactly as the encoder does."""
    ids = ids[:, : enc.max_positions]
    lengths = lengths.clamp(max=enc.max_positions)
    x = enc.embedding(ids) + enc.positions(torch.arange(ids.size(1), device=ids.device))[None]
    pad = ~_mask(ids, lengths)
    maps = []
    for layer in enc.encoder.layers:
        inp = layer.norm1(x) if layer.norm_first else x
        _, weights = layer.self_attn(inp, inp, inp, key_padding_mask=pad, need_weights=True, average_attn_weights=True)
        maps.append(weights)
        x = layer(x, src_key_padding_mask=pad)
    return maps, x


def attention_rollout(maps: list[torch.Tensor], length: int) -> torch.Tensor:
    """Rollout over layers for one document of ``length`` real tokens: ``(A + I) / rows`` multiplied
    through the layers; the mean over query positions, a (length,) tensor summing to 1."""
    eye = torch.eye(length)
    rollout = eye
    for m in maps:
        a = m[0, :length, :length] + eye
        a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout
    return rollout.mean(0)


def integrated_gradients(
    net: torch.nn.Module, ids: torch.Tensor, lengths: torch.Tensor, target: int, steps: int = 32
) -> tuple[torch.Tensor, float]:
    """Per-token attributions (summed over the embedding) for class ``target`` and the convergence delta.

    Networks with a hashed bigram table (``nbow``, ``cnn_bag``) are integrated over both tables at once;
    a bigram's attribution goes half to each of its two tokens."""
    from captum.attr import LayerIntegratedGradients

    enc = net.encoder
    embedding = enc.encoder.embedding if isinstance(enc, EncoderDecoderNet) else enc.embedding
    bigrams = getattr(enc, "bigrams", None)

    def forward(x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        return net(x, n)

    with warnings.catch_warnings():  # the bigram table reads the ids, not the word table's output
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = LayerIntegratedGradients(forward, [embedding, bigrams] if bigrams is not None else embedding)
    with torch.backends.cudnn.flags(enabled=False):  # RNN backward needs train mode under cuDNN
        attributions, delta = lig.attribute(
            ids,
            baselines=torch.zeros_like(ids),
            additional_forward_args=(lengths,),
            target=target,
            n_steps=steps,
            return_convergence_delta=True,
        )
    if bigrams is None:
        return attributions.sum(-1)[0], float(delta.abs().max())
    words, pairs = (a.sum(-1)[0].detach() for a in attributions)
    scores = words.clone()
    scores[:-1] += pairs / 2
    scores[1:] += pairs / 2
    return scores, float(delta.abs().max())


def explain_network(
    net: torch.nn.Module, ids: list[int], tokens: list[str], method: str = "auto", steps: int = 32
) -> dict[str, Any]:
    """Token scores for one encoded document (``ids`` and their ``tokens``, same length)."""
    if method not in METHODS:
        raise ValueError(f"unknown explanation method {method!r}; allowed: {', '.join(METHODS)}")
    if len(ids) != len(tokens):
        raise ValueError(f"{len(ids)} ids for {len(tokens)} tokens")
    net = net.eval()
    x = torch.tensor([ids], dtype=torch.long)
    n = torch.tensor([len(ids)])
    with torch.no_grad():
        probs = torch.softmax(net(x, n), dim=-1)[0]
    predicted = int(probs.argmax())
    method = default_method(net) if method == "auto" else method
    out: dict[str, Any] = {"method": method, "predicted": predicted}
    out["probabilities"] = [round(float(p), 4) for p in probs]
    if method == "attention":
        with torch.no_grad():
            scores = pooling_attention(net, x, n)[0]
    elif method == "attention_rollout":
        if not isinstance(net.encoder, TransformerEncoderNet):
            raise ValueError(f"attention_rollout needs a transformer encoder, not {type(net.encoder).__name__}")
        with torch.no_grad():
            scores = attention_rollout(self_attention_maps(net.encoder, x, n)[0], len(ids))
    else:
        if not isinstance(net.encoder, INTEGRABLE):
            raise ValueError(f"integrated gradients: unsupported encoder {type(net.encoder).__name__}")
        scores, out["delta"] = integrated_gradients(net, x, n, predicted, steps)
    out["tokens"] = list(tokens)
    out["scores"] = [round(float(s), 6) for s in scores[: len(tokens)]]
    return out
