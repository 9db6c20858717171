"""Pretrained transformers: MLM pretraining on our corpus, fine-tuning from a local folder, prediction."""

import json
import math
from pathlib import Path

import pytest
import torch

from pipeline.config import ParamsError, parse_params
from pipeline.data.jsonl import DataError
from pipeline.training.run_record import RunRecord
from tests.conftest import interrupt_at_epoch, make_raw_docs, preprocessed_project

TINY = {
    "preprocess.min_token_freq": 1,
    "pretrain.vocab_size": 300,
    "pretrain.min_frequency": 1,
    "pretrain.hidden_size": 32,
    "pretrain.num_layers": 1,
    "pretrain.num_heads": 2,
    "pretrain.intermediate_size": 32,
    "pretrain.max_length": 32,
    "pretrain.max_epochs": 2,
    "pretrain.batch_size": 16,
    "pretrain.val_fraction": 0.2,
    "finetune.architectures": ["bert"],
    "finetune.max_epochs": 2,
    "finetune.patience": 2,
    "finetune.batch_size": 8,
    "finetune.lr": 0.005,
    "finetune.max_length": 32,
    "train.architectures": ["tfidf_linear"],
    "tune.architectures": [],  # nothing tuned: a tuned architecture must be trained
}
DOCS = 120
# The record keys every trained classifier's run.json has (pipeline/stages/train.py), plus the pretrained extras.
RECORD_KEYS = {
    "arch", "family", "description", "seed", "git_commit", "versions", "params", "parameters", "device",
    "precision", "train_time_s", "epochs_run", "resumed_at_epoch", "best_epoch", "best_val_f1_macro",
    "train_samples", "class_weights", "latency_ms_per_doc", "checkpoint", "last_checkpoint", "mlflow_run_id",
    "mlflow_experiment_id", "curve",
}  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory):

    root = tmp_path_factory.mktemp("pretrained")
    with preprocessed_project(root, TINY, DOCS) as params:
        yield root, params


@pytest.fixture(scope="module")
def pretrained(project):
    from pipeline.pretrained.pretraining import pretrain

    root, params = project
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        return pretrain(params).model_dump()


def tiny_checkpoint(folder: Path, texts: list[str], kind: str = "bert") -> Path:
    """A BERT (or ELECTRA discriminator) folder built here, tokenizer + random weights: the "local folder"
    path of a checkpoint, through the same ``from_pretrained`` calls as a hub name."""
    from transformers import BertConfig, BertForMaskedLM, ElectraConfig, ElectraForPreTraining

    from pipeline.pretrained.tokenizer import train_wordpiece

    tok = train_wordpiece(texts, 200, 1, 32)
    config_class, model_class = (
        (BertConfig, BertForMaskedLM) if kind == "bert" else (ElectraConfig, ElectraForPreTraining)
    )
    config = config_class(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model_class(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def test_pretrain_writes_a_loadable_hugging_face_folder(project, pretrained):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    root, _ = project
    folder = root / "models" / "pretrained" / "bert"
    assert {"config.json", "model.safetensors", "tokenizer.json", "run.json"} <= {p.name for p in folder.iterdir()}
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    enc = tok(["هذا المكان رائع جدا"], return_tensors="pt")
    assert enc["input_ids"][0, 0] == tok.cls_token_id and enc["input_ids"][0, -1] == tok.sep_token_id
    assert model(**enc).logits.shape == (1, 3)
    # the encoder weights are the pretrained ones (the head is new)
    from safetensors.torch import load_file

    saved = load_file(folder / "model.safetensors")
    key = next(k for k in saved if k.endswith("word_embeddings.weight"))
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, saved[key])
    assert pretrained["epochs_run"] == 2 and [r["epoch"] for r in pretrained["curve"]] == [0, 1]
    for row in pretrained["curve"]:
        assert math.isclose(row["val/perplexity"], math.exp(row["val/loss"]), rel_tol=1e-3)


def test_pretraining_corpus_excludes_test_documents_and_near_duplicates(project, pretrained):
    from pipeline.data.split import read_split
    from pipeline.pretrained.corpus import build_corpus

    root, params = project
    test = read_split(root / "data" / "processed" / "test.jsonl")
    extra = root / "inputs" / "corpus"
    extra.mkdir(parents=True, exist_ok=True)
    near = test[0]["text"] + " جدا"  # one more word: a near-duplicate of a test document
    fresh = "نص جديد تماما عن فندق بعيد لم يره احد من قبل"
    (extra / "more.txt").write_text(f"{test[1]['text']}\n{near}\n{fresh}\n", encoding="utf-8")
    (extra / "more.jsonl").write_text(json.dumps({"text": fresh + " ايضا"}, ensure_ascii=False) + "\n", "utf-8")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            corpus = build_corpus(params)
    finally:
        (extra / "more.txt").unlink()
        (extra / "more.jsonl").unlink()
    assert not {r["text"].strip() for r in test} & set(corpus.texts)
    assert near not in corpus.texts and fresh in corpus.texts and fresh + " ايضا" in corpus.texts
    assert corpus.excluded_test == len(test) + 2
    # the stage's own corpus: every raw document but the test ones
    assert pretrained["corpus"]["documents"] == DOCS - len(test)
    assert pretrained["corpus"]["excluded_test"] == len(test)


def tiny_tokenizer():
    """A WordPiece tokenizer with the BERT specials ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4)."""
    from pipeline.pretrained.tokenizer import train_wordpiece

    return train_wordpiece([d["text"] for d in make_raw_docs(40)], 60, 1, 128)


def test_wordpiece_training_gives_the_same_ids_every_time():
    """tokenizers' WordPieceTrainer numbered ## forms in hash order (another vocabulary each run at the size cut)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from pipeline.pretrained.tokenizer import SPECIALS, train_wordpiece

    texts = [d["text"] for d in make_raw_docs(120)]
    vocabs = [train_wordpiece(texts, 300, 2, 128).get_vocab() for _ in range(4)]
    assert all(v == vocabs[0] for v in vocabs[1:]) and 100 < len(vocabs[0]) <= 300
    assert [t for t, i in sorted(vocabs[0].items(), key=lambda kv: kv[1])][:5] == SPECIALS
    tok = train_wordpiece(texts, 300, 2, 128)
    chars = {c for t in texts for w, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(t.lower()) for c in w}
    assert all(c in vocabs[0] and "[UNK]" not in tok.tokenize(c) for c in chars)  # every character alone
    # the library's own trainer's alphabet (every character alone and its ## form) is all there; its merged pieces
    # are not compared: that trainer breaks ties between equally frequent merges differently from run to run
    reference = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    reference.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=300, min_frequency=2, special_tokens=SPECIALS, show_progress=False)
    reference.train_from_iterator([t.lower() for t in texts], trainer)
    alphabet = {t for t in reference.get_vocab() if len(t.removeprefix("##")) == 1}
    assert alphabet <= set(vocabs[0]) and any(t.startswith("##") for t in alphabet)
    decoded = tok.decode(tok(texts[0])["input_ids"], skip_special_tokens=True)
    assert decoded.replace(" ", "") == texts[0].lower().replace(" ", "")


def test_masking_follows_bert_recipe():
    from pipeline.pretrained.masking import IGNORE, MLMCollator

    tok = tiny_tokenizer()
    assert (tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (2, 3, 4)
    body = torch.randint(len(tok) // 2, len(tok), (200, 98))  # no special ids
    ids = torch.cat([torch.full((200, 1), 2), body, torch.full((200, 1), 3)], dim=1)
    batch = MLMCollator(tok, 0.15, seed=0)(ids.tolist())
    inputs, labels = batch["input_ids"], batch["labels"]
    assert batch["attention_mask"].all()
    selected = labels != IGNORE
    assert not selected[:, [0, -1]].any()
    assert abs(selected.float().mean().item() - 0.15 * 98 / 100) < 0.01
    assert torch.equal(labels[selected], ids[selected])
    masked = (inputs == 4) & selected
    kept = (inputs == ids) & selected
    assert abs(masked.sum().item() / selected.sum().item() - 0.8) < 0.03
    assert abs(kept.sum().item() / selected.sum().item() - 0.1) < 0.03  # (+ random hits on the same id)
    assert torch.equal(inputs[~selected], ids[~selected])


def test_mlm_collator_pads_never_masks_specials_and_always_masks_something():
    from pipeline.pretrained.masking import IGNORE, MLMCollator

    tok = tiny_tokenizer()
    collate = MLMCollator(tok, 0.15, seed=3)
    for _ in range(50):  # one maskable token in a batch: 85% of draws would select nothing
        batch = collate([[2, 7, 3], [2, 3]])
        assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
        assert batch["input_ids"][1].tolist() == [2, 3, tok.pad_token_id]
        assert (batch["labels"] != IGNORE).tolist() == [[False, True, False], [False, False, False]]
        assert batch["labels"][0, 1] == 7


def test_mlm_masks_are_seeded_fixed_for_validation_and_fresh_each_training_epoch():
    from pipeline.pretrained.data import MLMDataModule
    from pipeline.pretrained.masking import MLMCollator

    tok = tiny_tokenizer()
    rows = [[2, *range(5 + i % 7, 25 + i % 7), 3] for i in range(64)]

    def epochs(dm: MLMDataModule, n: int = 2) -> list[list[dict]]:
        torch.manual_seed(0)  # the shuffle; the masks come from the collators' own generators
        return [list(dm.train_dataloader()) for _ in range(n)]

    def same(a: list[dict], b: list[dict]) -> bool:
        return all(torch.equal(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in x)

    first, again = MLMDataModule(tok, rows, rows, 16, 0.15, 7), MLMDataModule(tok, rows, rows, 16, 0.15, 7)
    assert same(list(first.val_dataloader()), list(first.val_dataloader()))  # fixed across epochs
    assert same(list(first.val_dataloader()), list(again.val_dataloader()))  # and set by the seed
    assert not same(list(first.val_dataloader()), list(MLMDataModule(tok, rows, rows, 16, 0.15, 8).val_dataloader()))
    train_a, train_b = epochs(first), epochs(again)
    assert same(train_a[0], train_b[0]) and same(train_a[1], train_b[1])  # deterministic for a seed
    a, b = MLMCollator(tok, 0.15, seed=5), MLMCollator(tok, 0.15, seed=5)
    torch.manual_seed(1)
    x = a(rows[:16])
    torch.manual_seed(2)
    assert same([x], [b(rows[:16])])  # torch's global generator does not decide the masks
    assert not same([x], [a(rows[:16])])  # the next call (epoch) draws new masks


def test_mlm_loss_on_masked_positions_only_equals_the_full_head_and_learns():
    from transformers import BertConfig, BertForMaskedLM

    from pipeline.pretrained.masking import MLMCollator
    from pipeline.pretrained.modules import MLMModule

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16,
    )  # fmt: skip
    module = MLMModule(config.to_dict(), {"lr": 0.01, "weight_decay": 0.0, "scheduler": "none", "warmup_ratio": 0})
    text = [[2, *range(5, 15), 3]] * 8  # the same sentence repeated: learnable
    collate = MLMCollator(tok, 0.3, seed=1)
    batch = collate(text)
    module.eval()
    full = BertForMaskedLM(config)
    full.load_state_dict(module.model.state_dict())
    full.eval()
    with torch.no_grad():
        assert torch.allclose(module.mlm_loss(batch), full(**batch).loss, atol=1e-5)
    module.train()
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = module.mlm_loss(collate(text))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses


def test_finetune_from_a_local_folder_writes_the_train_record_and_predicts(project, tmp_path):
    from pipeline.data.split import read_split
    from pipeline.serving.predict import load_predictor
    from pipeline.stages.finetune import finetune

    root, params = project
    rows = read_split(root / "data" / "processed" / "train.jsonl")
    folder = tiny_checkpoint(tmp_path / "my-bert", [r["text"] for r in rows])
    ft = params.finetune.model_copy(update={"checkpoints": {"bert": str(folder)}, "max_epochs": 1})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = finetune(params.model_copy(update={"finetune": ft}), "bert").model_dump()
        assert set(rec) >= RECORD_KEYS
        assert rec["family"] == "pretrained" and rec["pretrained_checkpoint"] == str(folder)
        assert not rec["pretrained_here"] and rec["epochs_run"] == 1
        assert set(rec["curve"][0]) >= {"epoch", "train/loss", "val/loss", "val/f1_macro", "val/acc", "lr"}
        assert all(v > 0 for v in rec["latency_ms_per_doc"].values())
        saved = json.loads((root / "models" / "bert" / "run.json").read_text(encoding="utf-8"))
        assert "mlflow_run_id" not in saved and "latency_ms_per_doc" not in saved  # in the run log
        assert RunRecord.load(root / "models" / "bert").mlflow_run_id == rec["mlflow_run_id"]
        assert (root / "models" / "bert" / "last.ckpt").is_file()
        test = read_split(root / "data" / "processed" / "test.jsonl")
        predictor = load_predictor(root / "models" / "bert", root / "data" / "processed")
        probs = predictor.predict_proba(test)
        assert len(probs) == len(test) and all(abs(sum(p) - 1) < 1e-4 for p in probs)
        # batching does not change predictions (padding is masked)
        one = predictor.predict_proba(test[:1])[0]
        assert all(abs(a - b) < 1e-5 for a, b in zip(one, probs[0], strict=True))
        explained = predictor.explain(test[0])
    assert explained["method"] == "attention" and len(explained["tokens"]) == len(explained["scores"])
    assert explained["predicted"] == max(range(3), key=probs[0].__getitem__)
    assert all(not t.startswith("##") and t not in ("[CLS]", "[SEP]") for t in explained["tokens"])
    assert 0 < sum(explained["scores"]) <= 1.0001


def test_the_prior_correction_is_added_to_the_fine_tuned_head_and_nothing_else_changes(project, tmp_path):
    """finetune.prior_correction: the same choice as from the uncorrected model's validation logits, and the
    saved Hugging Face folder differs from an uncorrected fine-tuning only by those offsets in the head's bias."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pipeline.data.split import read_split
    from pipeline.pretrained.predictor import PretrainedPredictor
    from pipeline.stages.finetune import finetune, validation_logits
    from pipeline.training.prior import choose_offsets

    root, params = project
    rows = read_split(root / "data" / "processed" / "train.jsonl")
    folder = tiny_checkpoint(tmp_path / "my-bert", [r["text"] for r in rows])

    def tuned(mode: str) -> tuple[dict, torch.nn.Module]:
        ft = params.finetune.model_copy(
            update={"checkpoints": {"bert": str(folder)}, "max_epochs": 1, "num_threads": 1, "prior_correction": mode}
        )
        rec = finetune(params.model_copy(update={"finetune": ft}), "bert").model_dump()
        model = AutoModelForSequenceClassification.from_pretrained(str(root / "models" / "bert" / "best"))
        return rec, model

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        plain_rec, plain = tuned("none")
        rec, corrected = tuned("auto")
        tokenizer = AutoTokenizer.from_pretrained(str(root / "models" / "bert" / "best"))
    assert plain_rec["prior_correction"] is None
    chosen = rec["prior_correction"]
    val = read_split(root / "data" / "processed" / "val.jsonl")
    normalize = params.preprocess.normalize.model_dump() if params.finetune.normalize else None
    probe = PretrainedPredictor("bert", plain, tokenizer, normalize, params.finetune.max_length)
    classes = len(json.loads((root / "data" / "processed" / "classes.json").read_text(encoding="utf-8"))["labels"])
    labels = [int(r["label"]) for r in val], [int(r["label"]) for r in rows]
    assert choose_offsets(validation_logits(probe, val), *labels, classes) == chosen
    plain_state, corrected_state = plain.state_dict(), corrected.state_dict()
    assert set(plain_state) == set(corrected_state)
    for key, value in plain_state.items():
        if key == "classifier.bias":
            assert (corrected_state[key] - value).tolist() == pytest.approx(chosen["offsets"], abs=1e-6)
        else:
            assert torch.equal(corrected_state[key], value), key
    if any(chosen["offsets"]):
        assert rec["best_val_f1_macro"] == chosen["val_f1_macro"]


@pytest.mark.parametrize(("kind", "head"), [("bert", "classifier.bias"), ("electra", "classifier.out_proj.bias")])
def test_offsets_go_to_the_classification_heads_output_bias_only(project, tmp_path, kind, head):
    from transformers import AutoModelForSequenceClassification

    from pipeline.data.split import read_split
    from pipeline.stages.finetune import add_to_head_bias

    rows = read_split(project[0] / "data" / "processed" / "train.jsonl")
    folder = tiny_checkpoint(tmp_path / kind, [r["text"] for r in rows], kind=kind)
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    add_to_head_bias(model, [0.5, -0.25, -0.25])
    for key, value in model.state_dict().items():
        if key == head:
            assert (value - before[key]).tolist() == pytest.approx([0.5, -0.25, -0.25])
        else:
            assert torch.equal(value, before[key]), key


def test_electra_fine_tunes_from_a_local_discriminator_folder(project, tmp_path):
    from pipeline.data.split import read_split
    from pipeline.serving.predict import load_predictor
    from pipeline.stages.finetune import finetune

    root, params = project
    rows = read_split(root / "data" / "processed" / "train.jsonl")
    folder = tiny_checkpoint(tmp_path / "my-electra", [r["text"] for r in rows], kind="electra")
    ft = params.finetune.model_copy(
        update={"architectures": ["electra"], "checkpoints": {"electra": str(folder)}, "max_epochs": 1}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = finetune(params.model_copy(update={"finetune": ft}), "electra").model_dump()
        predictor = load_predictor(root / "models" / "electra", root / "data" / "processed")
        config = json.loads((root / "models" / "electra" / "best" / "config.json").read_text(encoding="utf-8"))
        test = read_split(root / "data" / "processed" / "test.jsonl")
        assert len(predictor.predict_proba(test[:3])) == 3 and predictor.explain(test[0])["tokens"]
    assert config["model_type"] == "electra" and config["architectures"] == ["ElectraForSequenceClassification"]
    assert rec["arch"] == "electra" and rec["epochs_run"] == 1


def test_finetune_from_our_pretrained_model_learns_then_evaluate_and_report(project, pretrained):
    from pipeline.stages.evaluate import evaluate
    from pipeline.stages.finetune import finetune
    from pipeline.stages.report import report
    from pipeline.stages.train import train

    root, params = project
    ft = params.finetune.model_copy(update={"max_epochs": 6, "patience": 6})
    p = params.model_copy(update={"finetune": ft})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = finetune(p, "bert").model_dump()
        train(p, "tfidf_linear")
        headline = evaluate(p)
        report(p)
    assert rec["pretrained_here"] and rec["pretrained_checkpoint"] == str(Path("models/pretrained/bert"))
    assert rec["best_val_f1_macro"] > 0.5, rec["curve"]  # three classes: chance is about 0.33
    assert set(headline) == {"tfidf_linear", "bert"}
    assert "bert" in (root / "reports" / "report.md").read_text(encoding="utf-8")


def test_interrupted_finetuning_resumes_from_last_checkpoint(project, pretrained):
    from pipeline.stages.finetune import finetune

    root, params = project
    ft = params.finetune.model_copy(update={"max_epochs": 3, "patience": 3})
    p = params.model_copy(update={"finetune": ft})

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with pytest.raises(RuntimeError, match="killed"):
            finetune(p, "bert", callbacks=[interrupt_at_epoch(1)])
        state = root / "data" / "finetune-state" / "bert"
        first_run = json.loads((state / "state.json").read_text())["mlflow_run_id"]
        rec = finetune(p, "bert").model_dump()
    assert rec["resumed_at_epoch"] == 1 and rec["mlflow_run_id"] == first_run
    assert [r["epoch"] for r in rec["curve"]] == [0, 1, 2] and not state.exists()


def test_pretrained_family_validation():
    with pytest.raises(ParamsError, match=r"train.architectures: 'bert' is a pretrained transformer: use finetune"):
        parse_params({"train": {"architectures": ["lstm", "bert"]}})
    with pytest.raises(ParamsError, match=r"finetune.architectures: 'gru' is not a pretrained.*use train.archi"):
        parse_params({"finetune": {"architectures": ["gru"]}})
    with pytest.raises(ParamsError, match=r"finetune.checkpoints.electra: no offline electra"):
        parse_params({"finetune": {"architectures": ["electra"]}})
    with pytest.raises(ParamsError, match=r"finetune.checkpoints: key 'cnn'"):
        parse_params({"finetune": {"checkpoints": {"cnn": "x"}}})
    with pytest.raises(ParamsError, match=r"pretrain.num_heads \(3\) must divide pretrain.hidden_size \(64\)"):
        parse_params({"pretrain": {"num_heads": 3}})
    ok = parse_params({"finetune": {"architectures": ["bert", "electra"], "checkpoints": {"electra": "a/b"}}})
    assert ok.classifiers == ["lstm", "gru", "bert", "electra"]


def test_unreachable_checkpoints_fail_with_a_clear_error(project, monkeypatch):
    from pipeline.stages.finetune import finetune

    root, params = project
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(root)
    hub = params.finetune.model_copy(update={"checkpoints": {"bert": "no-such-org/no-such-bert"}})
    with pytest.raises(DataError, match=r"checkpoint 'no-such-org/no-such-bert': cannot load the tokenizer.*hub"):
        finetune(params.model_copy(update={"finetune": hub}), "bert")
    missing = params.pretrain.model_copy(update={"output_dir": str(root / "nowhere")})
    with pytest.raises(DataError, match=r"no pretrained bert here \(run `dvc repro pretrain`"):
        finetune(params.model_copy(update={"pretrain": missing}), "bert")


def test_pretrain_stage_is_skipped_when_no_finetuning_needs_it():
    from pipeline.pretrained.pretraining import needed

    assert needed(parse_params({"finetune": {"architectures": ["bert"]}}))
    assert not needed(parse_params({}))
    assert not needed(parse_params({"finetune": {"architectures": ["bert"], "checkpoints": {"bert": "x/y"}}}))


def test_interrupted_pretraining_resumes_with_its_tokenizer(project, tmp_path):
    from pipeline.pretrained.pretraining import pretrain

    root, params = project
    pp = params.pretrain.model_copy(
        update={"epochs": 2, "output_dir": str(tmp_path / "pre"), "state_dir": str(tmp_path / "state")}
    )
    p = params.model_copy(update={"pretrain": pp})

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        with pytest.raises(RuntimeError, match="killed"):
            pretrain(p, callbacks=[interrupt_at_epoch(1)])
        state = tmp_path / "state" / "bert"
        vocab = json.loads((state / "tokenizer" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
        rec = pretrain(p).model_dump()
    assert rec["resumed_at_epoch"] == 1 and [r["epoch"] for r in rec["curve"]] == [0, 1]
    saved = json.loads((tmp_path / "pre" / "bert" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    assert saved == vocab and not state.exists()


def test_whole_word_masking_selects_every_piece_of_a_word_together():
    from pipeline.pretrained.masking import IGNORE, MLMCollator

    tok = tiny_tokenizer()
    vocab = tok.convert_ids_to_tokens(list(range(len(tok))))
    heads = [i for i, t in enumerate(vocab) if i > 4 and not t.startswith("##")]
    pieces = [i for i, t in enumerate(vocab) if t.startswith("##")]
    gen = torch.Generator().manual_seed(0)
    rows, words = [], []
    for _ in range(200):  # 30 words of 1-3 pieces each, between [CLS] and [SEP]
        ids, spans = [2], []
        for _ in range(30):
            n = int(torch.randint(0, 3, (1,), generator=gen))
            start = len(ids)
            ids.append(heads[int(torch.randint(len(heads), (1,), generator=gen))])
            ids += [pieces[int(torch.randint(len(pieces), (1,), generator=gen))] for _ in range(n)]
            spans.append((start, len(ids)))
        rows.append([*ids, 3])
        words.append(spans)

    def split_words(batch: dict) -> tuple[int, int]:
        """(words selected partly, words selected) over the batch."""
        partly = chosen = 0
        for r, spans in enumerate(words):
            for a, b in spans:
                picked = (batch["labels"][r, a:b] != IGNORE).tolist()
                chosen += any(picked)
                partly += any(picked) and not all(picked)
        return partly, chosen

    partly, chosen = split_words(MLMCollator(tok, 0.15, seed=0, whole_word=True)(rows))
    assert partly == 0 and abs(chosen / (200 * 30) - 0.15) < 0.02
    assert split_words(MLMCollator(tok, 0.15, seed=0)(rows))[0] > 50  # per wordpiece: words are split


def test_a_time_budget_stops_pretraining_before_the_epoch_that_would_overrun_it(project, tmp_path):
    from pipeline.pretrained.pretraining import pretrain

    root, params = project
    pp = params.pretrain.model_copy(
        update={
            "max_epochs": 3,
            "patience": 3,
            "max_minutes": 1e-4,  # well under one epoch: the first runs, no second starts
            "output_dir": str(tmp_path / "pre"),
            "state_dir": str(tmp_path / "state"),
        }
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        rec = pretrain(params.model_copy(update={"pretrain": pp})).model_dump()
    assert rec["epochs_run"] == 1 and [r["epoch"] for r in rec["curve"]] == [0]
    assert (tmp_path / "pre" / "bert" / "config.json").is_file()  # the budget's model is saved like any other
