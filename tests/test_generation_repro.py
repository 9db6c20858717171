"""Byte-reproducible generation (issue 19 item 4): the same params give the same ``generation/metrics.json`` and
``samples.json``, whatever number of cores the machine leaves the process (the thread count used to follow it)."""

import os

import pytest
import torch

from pipeline.generation.store import load_lm
from pipeline.generation.training import train_lm
from pipeline.stages.evaluate import evaluate
from pipeline.stages.generate import generate
from pipeline.stages.lm_tokenizer import build_tokenizer
from pipeline.stages.train import train
from tests.conftest import preprocessed_project
from tests.test_generation_pipeline import OVERRIDES as PIPELINE

pytestmark = pytest.mark.slow
# Blocks and widths large enough that CPU kernels split their sums among threads (with the tiny sizes of the
# other generation tests, 1 and 2 threads happen to give the same bits).
OVERRIDES = {
    **PIPELINE,
    "generate.train.block_size": 64,
    "generate.gpt2.n_embd": 128,
    "generate.gpt2.n_positions": 64,
    "generate.lstm_lm.hidden_dim": 128,
    "generate.lstm_lm.embedding_dim": 128,
}
FILES = ("metrics.json", "samples.json", "headline.json")


def test_same_params_give_the_same_generation_bytes_on_any_core_count(tmp_path):
    cores, threads = os.sched_getaffinity(0), torch.get_num_threads()
    outputs, weights = [], []
    with preprocessed_project(tmp_path, OVERRIDES, 90) as params:
        train(params, "tfidf_linear")
        evaluate(params)
        build_tokenizer(params)
        for affinity in (cores, {min(cores)}):  # all cores, then one (as when other processes take the rest)
            os.sched_setaffinity(0, affinity)
            try:
                records = [train_lm(params, name) for name in ("lstm_lm", "gpt2")]
                generate(params)
            finally:
                os.sched_setaffinity(0, cores)
                torch.set_num_threads(threads)
            assert {r.torch_threads for r in records} == {1}
            outputs.append({f: (tmp_path / "reports/generation" / f).read_bytes() for f in FILES})
            weights.append({r.arch: load_lm(tmp_path / "models/lm" / r.arch).net.state_dict() for r in records})
    assert outputs[0] == outputs[1]
    for name, state in weights[0].items():  # the same bits, not only the same rounded metrics
        assert all(torch.equal(v, weights[1][name][k]) for k, v in state.items()), name
