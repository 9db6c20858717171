"""ONNX export and int8 quantisation of trained classifiers; a predictor over ONNX Runtime.

Every neural classifier (the train stage's networks, the finetune stage's Hugging Face models) is exported
to ONNX with dynamic batch and length axes; the graph returns logits. Recurrent encoders are exported through
their padded forward with a mask (:meth:`~pipeline.models.networks.RecurrentEncoder._padded_states`), since
packed sequences do not export reliably. ``onnxruntime.quantization.quantize_dynamic`` gives the int8 file
(weights int8, activations quantised on the fly; CNN encoders quantised from a graph that computes their
convolutions as one matrix product, see :func:`convolutions_as_matmul`); PyTorch's dynamic quantisation of
LSTM/GRU/Linear is the comparison. :class:`OnnxPredictor` uses the trained predictor's own preprocessing and runs
the ONNX graph.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.models.registry import kind

log = logging.getLogger("export")

Row = dict[str, Any]
NETWORK_INPUTS = ("ids", "lengths")
PRETRAINED_INPUTS = ("input_ids", "attention_mask")


def exportable(arch: str) -> bool:
    """Networks and fine-tuned transformers export; the scikit-learn baseline does not."""
    return kind(arch) in ("network", "pretrained")


@contextmanager
def padded_recurrent(net: Any) -> Iterator[Any]:
    """Every recurrent encoder inside ``net`` runs its padded forward (not packed sequences) meanwhile."""
    from pipeline.models.networks import RecurrentEncoder

    encoders = [m for m in net.modules() if isinstance(m, RecurrentEncoder)]
    for m in encoders:
        m.padded = True
    try:
        yield net
    finally:
        for m in encoders:
            m.padded = False


@contextmanager
def convolutions_as_matmul(net: Any) -> Iterator[Any]:
    """Every CNN encoder inside ``net`` computes its convolutions as one matrix product meanwhile: each output
    position's window of ``max(kernel_sizes)`` embedded tokens (padded) times one weight matrix holding every
    kernel's taps (zeros where a shorter kernel has none). The same numbers as the convolutions (float rounding
    apart): the form the int8 file is quantised from, because ONNX Runtime's integer matrix product
    (MatMulInteger) is about twice as fast as its float one while its integer convolution (ConvInteger) is 3-4x
    slower than the float Conv (300-dimensional embeddings, 100 filters, one thread)."""
    import types

    import torch

    from pipeline.models.networks import CNNEncoder

    encoders = [m for m in net.modules() if isinstance(m, CNNEncoder)]
    for m in encoders:
        width, dim = max(m.kernel_sizes), m.embedding.embedding_dim
        weight = torch.zeros(width * dim, m.output_dim)
        for i, (k, conv) in enumerate(zip(m.kernel_sizes, m.convs, strict=True)):
            taps = conv.weight.detach().permute(2, 1, 0)  # (k, dim, filters)
            for j in range(k):  # kernel k's taps are the last k of the window
                slot = width - k + j
                weight[slot * dim : (slot + 1) * dim, i * conv.out_channels : (i + 1) * conv.out_channels] = taps[j]
        m.register_buffer("window_weight", weight, persistent=False)
        m.register_buffer("window_bias", torch.cat([c.bias.detach() for c in m.convs]), persistent=False)
        m.pool = types.MethodType(_windowed_pool, m)
    try:
        yield net
    finally:
        for m in encoders:
            del m.pool, m.window_weight, m.window_bias


def _windowed_pool(self: Any, embedded: Any, ids: Any, lengths: Any) -> Any:
    """:meth:`CNNEncoder.pool <pipeline.models.networks.CNNEncoder.pool>` by one matrix product (see
    :func:`convolutions_as_matmul`); position t's window holds padded tokens t..t+width-1, so kernel k's output t
    is the full convolution's output t."""
    import torch

    from pipeline.models.networks import _mask

    width = max(self.kernel_sizes)
    x = embedded * _mask(ids, lengths).unsqueeze(-1)
    x = torch.nn.functional.pad(x, (0, 0, width - 1, width - 1))
    steps = ids.size(1) + width - 1
    windows = torch.cat([x[:, j : j + steps] for j in range(width)], dim=-1)  # (batch, steps, width * dim)
    out = torch.relu(windows @ self.window_weight + self.window_bias)  # (batch, steps, kernels * filters)
    positions = torch.arange(steps, device=ids.device)[None, :]
    filters = self.convs[0].out_channels
    pooled = []
    for i, k in enumerate(self.kernel_sizes):
        valid = positions < (lengths.to(ids.device) + k - 1)[:, None]
        part = out[:, :, i * filters : (i + 1) * filters]
        pooled.append(part.masked_fill(~valid.unsqueeze(-1), float("-inf")).max(1).values)
    return torch.cat(pooled, dim=-1)


def has_convolutions(predictor: Any) -> bool:
    """Whether the predictor's network holds a CNN encoder (its int8 file comes from another graph)."""
    from pipeline.models.networks import CNNEncoder

    if kind(predictor.arch) == "pretrained":
        return False
    return any(isinstance(m, CNNEncoder) for m in predictor.module.net.modules())


def _pretrained_graph(model: Any) -> Any:
    import torch

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    return Logits().eval()


def graph_inputs(predictor: Any, rows: Sequence[Row]) -> dict[str, np.ndarray]:
    """The ONNX graph's inputs for ``rows``, by the predictor's own preprocessing (int64 arrays)."""
    if kind(predictor.arch) == "pretrained":
        batch = predictor._encode(rows)
        return {name: batch[name].numpy().astype(np.int64) for name in PRETRAINED_INPUTS}
    items = predictor.encode(rows)
    lengths = np.array([len(ids) for ids, _ in items], dtype=np.int64)
    ids = np.zeros((len(items), int(lengths.max())), dtype=np.int64)
    for i, (seq, _) in enumerate(items):
        ids[i, : len(seq)] = seq
    return {"ids": ids, "lengths": lengths}


def torch_logits(predictor: Any, rows: Sequence[Row]) -> np.ndarray:
    """PyTorch's logits for ``rows`` as one batch (the reference the ONNX graph must match)."""
    import torch

    inputs = graph_inputs(predictor, rows)
    with torch.inference_mode():
        if kind(predictor.arch) == "pretrained":
            out = predictor.model(**{n: torch.from_numpy(v) for n, v in inputs.items()}).logits
        else:
            out = predictor.module.net(torch.from_numpy(inputs["ids"]), torch.from_numpy(inputs["lengths"]))
    return out.float().numpy()


def export_onnx(predictor: Any, rows: Sequence[Row], path: Path, opset: int = 17, as_matmul: bool = False) -> Path:
    """Write the predictor's network to ``path`` as ONNX (logits), traced on ``rows`` (at least two, of
    different lengths, so that no size is frozen into the graph); ``as_matmul``: CNN encoders in the form
    :func:`convolutions_as_matmul` gives (the source of their int8 file)."""
    import torch

    pretrained = kind(predictor.arch) == "pretrained"
    net = _pretrained_graph(predictor.model) if pretrained else predictor.module.net.eval()
    names = PRETRAINED_INPUTS if pretrained else NETWORK_INPUTS
    example = graph_inputs(predictor, rows)
    axes = {n: {0: "batch", 1: "time"} for n in names} | {"logits": {0: "batch"}}
    if not pretrained:
        axes["lengths"] = {0: "batch"}
    path.parent.mkdir(parents=True, exist_ok=True)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused encoder-layer kernel has no ONNX form
    try:
        _export(net, tuple(torch.from_numpy(example[n]) for n in names), path, names, axes, opset, as_matmul)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return path


def _export(
    net: Any, example: tuple, path: Path, names: Sequence[str], axes: dict, opset: int, as_matmul: bool = False
) -> None:
    """The TorchScript exporter (about a second a model here); torch.export (``dynamo=True``, ~20 s) for
    self-attention, whose traced reshapes would freeze the example's length."""
    import torch

    dynamo = any(isinstance(m, torch.nn.MultiheadAttention) for m in net.modules()) or names == PRETRAINED_INPUTS
    options: dict[str, Any] = {"dynamic_axes": axes}
    if dynamo:
        batch, time = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=1)
        shapes = {n: ({0: batch, 1: time} if n != "lengths" else {0: batch}) for n in names}
        # one self-contained file (the weights inside, as the TorchScript exporter writes them) unless protobuf's
        # 2 GB limit forbids it: then the weights go to <file>.data beside it
        weights = sum(t.numel() * t.element_size() for t in net.state_dict().values())
        options = {"dynamic_shapes": shapes, "verbose": False, "report": False, "external_data": weights > 1.5e9}
    matmul = convolutions_as_matmul(net) if as_matmul else contextlib.nullcontext()
    with padded_recurrent(net), matmul, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation and tracer notes
        torch.onnx.export(
            net,
            example,
            str(path),
            dynamo=dynamo,
            input_names=list(names),
            output_names=["logits"],
            opset_version=opset,
            **options,
        )


def quantize_onnx(src: Path, dst: Path) -> Path:
    """``quantize_dynamic``: int8 weights (MatMul, Gather, LSTM/GRU ...), activations quantised at run time, after
    onnxruntime's recommended pre-processing (symbolic shape inference and graph optimisation) where it applies."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = src.resolve(), dst.resolve()
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            # its symbolic shape inference saves a failed graph as sym_shape_infer_temp.onnx (+ a .data file) in
            # the working directory: run it in the temporary folder so nothing is left in the user's checkout
            with contextlib.chdir(tmp):
                quant_pre_process(str(src), str(prepared))
        except Exception as err:  # a graph its shape inference cannot follow: quantise the export as it is
            log.info("%s: quantisation pre-processing skipped (%s)", src, str(err).splitlines()[0] if str(err) else err)
            prepared = src
        quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8)
    return dst


def export_int8(predictor: Any, rows: Sequence[Row], fp32: Path, dst: Path, check: Any = None) -> Path:
    """``dst``: the int8 file, :func:`quantize_onnx` of the fp32 export ``fp32`` or, for a network with CNN
    encoders, of its :func:`convolutions_as_matmul` export (traced on ``rows``), which ``check(path)`` (when
    given) vets before it is quantised."""
    import tempfile

    if not has_convolutions(predictor):
        return quantize_onnx(fp32, dst)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        source = export_onnx(predictor, rows, Path(tmp) / "matmul.onnx", as_matmul=True)
        if check is not None:
            check(source)
        return quantize_onnx(source, dst)


def quantize_torch(predictor: Any) -> Any:
    """A copy of the predictor whose LSTM/GRU/Linear layers are PyTorch dynamic int8 (``torch.ao``)."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    clone = copy.copy(predictor)
    types = {torch.nn.Linear, torch.nn.LSTM, torch.nn.GRU}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation note (torchao)
        if kind(predictor.arch) == "pretrained":
            clone.model = quantize_dynamic(copy.deepcopy(predictor.model), types, dtype=torch.qint8)
        else:
            clone.module = quantize_dynamic(copy.deepcopy(predictor.module), types, dtype=torch.qint8)
    return _SlowPath(clone)


class _SlowPath:
    """Runs a predictor with PyTorch's fused encoder-layer fast path off (it rejects quantised Linear weights)."""

    def __init__(self, predictor: Any) -> None:
        self.predictor, self.arch = predictor, predictor.arch

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        import torch

        fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            return self.predictor.predict_proba(rows)
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)


def session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session (``threads`` intra-op threads; default: ONNX Runtime's choice)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    # no busy-waiting pool threads between calls: on a shared machine they burn the cores the server needs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class OnnxPredictor:
    """``predict_proba(rows)`` by ONNX Runtime, with the trained predictor's preprocessing (``base``)."""

    def __init__(self, base: Any, path: Path, threads: int | None = None, batch_size: int = 64) -> None:
        self.base, self.path, self.arch, self.batch_size = base, Path(path), base.arch, batch_size
        self.session = session(self.path, threads)
        self.tokenise = getattr(base, "tokenise", None)

    def logits(self, rows: Sequence[Row]) -> np.ndarray:
        parts = [
            self.session.run(["logits"], graph_inputs(self.base, rows[i : i + self.batch_size]))[0]
            for i in range(0, len(rows), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def predict_proba(self, rows: Sequence[Row]) -> list[list[float]]:
        return softmax(self.logits(rows).astype(np.float64)).tolist() if rows else []

    def explain(self, row: Row, **kwargs: Any) -> dict[str, Any]:
        """The PyTorch model's explanation (gradients and attention weights are not in the ONNX graph)."""
        return self.base.explain(row, **kwargs)


def onnx_size_mb(path: Path) -> float:
    """The ONNX file's size with its external weights (``<file>.data``, written for models over 1.5 GB), in MB."""
    data = path.with_name(path.name + ".data")
    return (path.stat().st_size + (data.stat().st_size if data.is_file() else 0)) / 1e6


def onnx_files(export_dir: Path, arch: str) -> dict[str, Path]:
    """Where the export stage writes ``arch``'s files: ``fp32`` and ``int8``."""
    return {"fp32": export_dir / arch / "model.onnx", "int8": export_dir / arch / "model.int8.onnx"}
