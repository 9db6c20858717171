"""LM training on a tiny corpus: resume after an interruption, fine-tuning a local GPT-2 folder, the CLI."""

import json
import subprocess
import sys

import pytest

from pipeline import cli
from pipeline.config import load_params
from pipeline.data.split import read_split
from pipeline.generation.store import load_lm
from pipeline.generation.training import train_lm
from pipeline.stages.generate import main as generate_main
from pipeline.stages.lm_tokenizer import build_tokenizer
from tests.conftest import REPO, interrupt_at_epoch, write_params
from tests.gen_helpers import write_processed

TINY = {
    "generate.train.block_size": 16,
    "generate.train.batch_size": 8,
    "generate.train.max_epochs": 3,
    "generate.train.patience": 5,
    "generate.tokenizer.vocab_size": 400,
    "generate.lstm_lm.embedding_dim": 16,
    "generate.lstm_lm.hidden_dim": 16,
    "generate.gpt2.n_layer": 1,
    "generate.gpt2.n_embd": 16,
    "generate.gpt2.n_positions": 64,
    "generate.max_prompt_tokens": 16,
    "generate.max_new_tokens": 12,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        write_params(root / "params.yaml", TINY)
        write_processed(root)
        params = load_params()
        build_tokenizer(params)
        yield root, params


@pytest.mark.slow
def test_interrupted_training_resumes_from_last_checkpoint(project):
    root, params = project

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with pytest.raises(RuntimeError, match="killed"):
            train_lm(params, "lstm_lm", callbacks=[interrupt_at_epoch(1)])
        state = root / "data" / "lm-state" / "lstm_lm"
        assert (state / "checkpoints" / "last.ckpt").is_file()
        first_run = json.loads((state / "state.json").read_text())["mlflow_run_id"]
        rec = train_lm(params, "lstm_lm").model_dump()
        assert rec["resumed_at_epoch"] == 1 and rec["mlflow_run_id"] == first_run
        assert [r["epoch"] for r in rec["curve"]] == [0, 1, 2] and rec["epochs_run"] == 3
        assert all({"train/loss", "val/loss", "val/perplexity"} <= set(r) for r in rec["curve"])
        assert not state.exists()
        assert rec["train_tokens"] == 3 * rec["train_blocks"] * 16 and rec["train_tokens_per_s"] > 0
        saved = json.loads((root / "models/lm/lstm_lm/run.json").read_text())
        assert saved["curve"] == rec["curve"] and saved["tokenizer"] == "shared"

        # the saved model is the best epoch's: its held-out loss on val is the recorded best
        lm = load_lm(root / "models/lm/lstm_lm")
        loss, count = lm.mean_loss(read_split(root / "data/processed/val.jsonl"), 16)
        assert count >= rec["val_predicted_tokens"]
        assert loss == pytest.approx(rec["best_val_loss"], rel=0.05)

        # other params: the state is discarded, training starts afresh
        with pytest.raises(RuntimeError, match="killed"):
            train_lm(params, "lstm_lm", callbacks=[interrupt_at_epoch(1)])
        other = params.model_copy(
            update={
                "generate": params.generate.model_copy(
                    update={"lstm_lm": params.generate.lstm_lm.model_copy(update={"lr": 0.02})}
                )
            }
        )
        again = train_lm(other, "lstm_lm").model_dump()
        assert again["resumed_at_epoch"] is None and again["epochs_run"] == 3


def _tiny_hub_model(folder):
    """A GPT-2 with its own tokenizer (one end-of-text token, as the hub's gpt2), saved like a hub repo."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["مرحبا بكم في المطعم والفندق"] * 5, vocab_size=300, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(tok), n_positions=48, n_embd=24, n_layer=1, n_head=2, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return len(tok)


def test_gpt2_fine_tunes_a_local_folder_with_its_own_tokenizer(project, tmp_path):
    root, params = project
    folder = tmp_path / "tiny-gpt2"
    base_vocab = _tiny_hub_model(folder)
    g = params.generate
    p = params.model_copy(
        update={
            "generate": g.model_copy(
                update={
                    "gpt2": g.gpt2.model_copy(update={"checkpoint": str(folder)}),
                    "train": g.train.model_copy(update={"max_epochs": 1}),
                }
            )
        }
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = train_lm(p, "gpt2").model_dump()
        assert rec["tokenizer"] == str(folder) and rec["epochs_run"] == 1
        assert rec["vocab_size"] == base_vocab + 3  # + one class token per label
        lm = load_lm(root / "models/lm/gpt2")
        assert lm.net.model.config.n_embd == 24 and lm.max_positions == 48  # the folder's model, not params'
        assert lm.codec.bos_id == lm.codec.eos_id == 0 and set(lm.codec.class_ids) == {
            "negative",
            "neutral",
            "positive",
        }
        assert len(lm.codec.tokenizer) == rec["vocab_size"]


def _cli(argv):
    cli.run(lambda: generate_main(argv))


def test_cli_generates_and_rejects_bad_requests(project, capsys):
    root, params = project
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        if not (root / "models/lm/lstm_lm/run.json").is_file():
            train_lm(params, "lstm_lm")
        _cli(["--prompt", "الطعام في هذا المطعم", "--model", "lstm_lm", "--num", "3", "--label", "positive"])
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 3 and all(line.startswith("الطعام في هذا المطعم") for line in lines)
        for line in lines:  # at most max_new_tokens (12) tokens, so at most 12 words
            assert len(line.split()) <= 4 + 12
        _cli(["--prompt", "الطعام", "--model", "lstm_lm", "--greedy", "--num", "2"])
        a, b = capsys.readouterr().out.strip().splitlines()
        assert a == b  # greedy: the seed makes no difference
        for argv, message in (
            (["--prompt", "hello there"], "has no Arabic letter"),
            (["--prompt", "  "], "empty prompt"),
            (["--prompt", "الطعام " * 40], "generate.max_prompt_tokens = 16"),
            (["--prompt", "الطعام", "--max-new-tokens", "500"], "generate.max_new_tokens (12)"),
            (["--prompt", "الطعام", "--label", "great"], "unknown label 'great'"),
            (["--prompt", "الطعام", "--model", "bert"], "--model 'bert'"),
            (["--prompt", "الطعام", "--top-p", "2"], "--top-p"),
        ):
            with pytest.raises(SystemExit) as exc:
                _cli(["--model", "lstm_lm", *argv] if "--model" not in argv else argv)
            assert exc.value.code == 2
            err = capsys.readouterr().err
            assert message in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def test_cli_entry_point_runs_as_a_module(project):
    root, params = project
    if not (root / "models/lm/lstm_lm/run.json").is_file():
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            train_lm(params, "lstm_lm")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--prompt", "الغرفة في الفندق", "--model", "lstm_lm"],
        cwd=root,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "HF_HUB_OFFLINE": "1",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().startswith("الغرفة في الفندق")
    bad = subprocess.run(
        [sys.executable, "-m", "pipeline", "generate", "--prompt", "good food", "--model", "lstm_lm"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "no Arabic letter" in bad.stderr
