"""word2vec / fastText embeddings: the stage, determinism, held-out text, OOV mapping, frozen or fine-tuned."""

import json

import numpy as np
import pytest
import torch

from pipeline.config import ParamsError, parse_params
from pipeline.data.jsonl import DataError
from pipeline.data.split import split_tokens
from pipeline.stages import embeddings
from pipeline.stages.train import train
from pipeline.text.vocab import Vocab
from pipeline.training.module import ClassifierModule
from tests.conftest import preprocessed_project

OVERRIDES = {
    "train.architectures": ["lstm"],
    "train.max_epochs": 2,
    "train.patience": 2,
    "train.hidden_dim": 8,
    "train.embedding_dim": 8,
    "train.batch_size": 16,
    "embeddings.epochs": 20,
    "preprocess.min_token_freq": 1,
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("emb")
    with preprocessed_project(root, OVERRIDES, 66) as params:
        yield root, params


def with_train(params, **train):
    return params.model_copy(update={"train": params.train.model_copy(update=train)})


def test_random_init_trains_no_vectors(project):
    root, params = project
    info = embeddings.build(params)
    assert info["method"] == "none"
    assert not list((root / "models" / "embeddings").glob("*.model"))


def with_corpus(params, corpus, corpus_dir=None):
    update = {"embeddings": params.embeddings.model_copy(update={"corpus": corpus})}
    if corpus_dir is not None:
        update["pretrain"] = params.pretrain.model_copy(update={"corpus_dir": str(corpus_dir)})
    return params.model_copy(update=update)


@pytest.mark.parametrize("corpus", ["splits", "all"])
@pytest.mark.parametrize("method", ["word2vec", "fasttext"])
def test_vectors_are_deterministic_and_never_see_the_test_split(project, method, corpus):
    root, params = project
    p = with_corpus(with_train(params, embedding_init=method), corpus)
    info = embeddings.build(p)
    first = embeddings.load_vectors(root / "models", method).wv
    embeddings.build(p)
    second = embeddings.load_vectors(root / "models", method).wv
    assert first.index_to_key == second.index_to_key
    assert np.array_equal(first.vectors, second.vectors)
    seen = {
        t for doc in split_tokens("data/processed", "train")[0] + split_tokens("data/processed", "val")[0] for t in doc
    }
    test_only = {t for doc in split_tokens("data/processed", "test")[0] for t in doc} - seen
    assert test_only, "the synthetic test split has its own numbers"
    assert not test_only & set(first.key_to_index)
    assert set(first.key_to_index) == seen  # min_count 1: every train/val word has a vector; no other source text
    assert info["vocab_coverage"] == 1.0 and info["dim"] == 8
    assert info["corpus"]["kind"] == corpus


def test_all_corpus_adds_unlabelled_text_but_never_a_test_document(project, tmp_path):
    from pipeline.data.split import read_split
    from pipeline.text.processor import TextProcessor

    root, params = project
    extra = tmp_path / "corpus"
    extra.mkdir()
    test_doc = read_split(root / "data" / "processed" / "test.jsonl")[0]
    unlabelled = "وجبة البرتقال لذيذة جدا في المطعم الجديد"
    (extra / "unlabelled.txt").write_text(f"{unlabelled}\n{test_doc['text']}\n", encoding="utf-8")
    added = set(TextProcessor(params.preprocess)(unlabelled))
    seen = {t for name in ("train", "val") for doc in split_tokens("data/processed", name)[0] for t in doc}
    assert added - seen, "the unlabelled line has words of its own"

    p = with_train(params, embedding_init="word2vec")
    info = embeddings.build(with_corpus(p, "all", extra))
    words = set(embeddings.load_vectors(root / "models", "word2vec").wv.key_to_index)
    assert added <= words and seen <= words
    assert info["corpus"]["sources"] == {"source": info["documents"] - 1, "unlabelled.txt": 1}
    assert info["corpus"]["excluded_test"] >= len(read_split(root / "data" / "processed" / "test.jsonl")) + 1

    embeddings.build(with_corpus(p, "splits", extra))
    assert not (added - seen) & set(embeddings.load_vectors(root / "models", "word2vec").wv.key_to_index)


def test_embedding_matrix_rows_follow_the_vocabulary(project):
    root, params = project
    p = with_train(params, embedding_init="word2vec")
    embeddings.build(p)
    model = embeddings.load_vectors(root / "models", "word2vec")
    vocab = Vocab(["<pad>", "<unk>", "سيء", "ممتاز", "كلمةغائبة"])
    matrix, coverage = embeddings.embedding_matrix(vocab, model, seed=1)
    assert matrix.shape == (5, 8) and not matrix[0].any()
    assert coverage == pytest.approx(2 / 3)
    # centred and scaled, but the geometry of the known words is the model's: same cosine
    a, b = model.wv["سيء"], model.wv["ممتاز"]
    centre = matrix[1:].mean(0)  # ~0 after centring
    assert np.allclose(centre, 0, atol=1e-5)
    raw = np.stack([model.wv[w] for w in ("سيء", "ممتاز")])
    assert np.corrcoef(raw[0] - raw[1], matrix[2] - matrix[3])[0, 1] > 0.99
    assert float(np.dot(a, b)) != 0.0


def test_fasttext_maps_unseen_words_to_a_vocabulary_word(project):
    root, params = project
    # 32 dimensions, not the fixture's 8: with 8 the character n-grams' share of a vector is too small for the
    # nearest word to be stable across corpora
    embeddings.build(with_train(params, embedding_init="fasttext", embedding_dim=32))
    vocab = Vocab.load(root / "data/processed/vocab.json")
    mapper = embeddings.oov_mapper(root / "models", "fasttext", vocab)
    assert "ممتازة" not in vocab.stoi and "ممتاز" in vocab.stoi
    # an unseen inflection shares most character n-grams with the known word
    assert vocab.itos[mapper("ممتازة")] in {"ممتاز", "ممتازه"}
    assert vocab.encode(["ممتازة", "ممتاز"], mapper)[0] != 1
    assert vocab.encode(["ممتازة"]) == [1]  # without the mapper: <unk>


@pytest.mark.parametrize("freeze", [True, False])
def test_training_starts_from_the_vectors_frozen_or_fine_tuned(project, tmp_path, freeze):
    root, params = project
    p = with_train(params, embedding_init="fasttext", freeze_embeddings=freeze)
    p = p.model_copy(update={"base": p.base.model_copy(update={"models_dir": str(tmp_path / "m")})})
    embeddings.build(p)
    record = train(p, "lstm").model_dump()
    assert record["embeddings"]["method"] == "fasttext"
    vocab = Vocab.load(root / "data/processed/vocab.json")
    start, _ = embeddings.embedding_matrix(vocab, embeddings.load_vectors(tmp_path / "m", "fasttext"), p.base.seed)
    trained = ClassifierModule.load_from_checkpoint(
        tmp_path / "m/lstm/best.ckpt", map_location="cpu", weights_only=True
    )
    table = trained.word_embedding().weight.detach()
    assert torch.equal(table, torch.as_tensor(start)) is freeze
    run = json.loads((tmp_path / "m/lstm/run.json").read_text())
    assert run["epochs_run"] >= 1


def test_missing_vectors_and_bad_params_are_named(project, tmp_path):
    _, params = project
    p = with_train(params, embedding_init="word2vec")
    p = p.model_copy(update={"base": p.base.model_copy(update={"models_dir": str(tmp_path / "none")})})
    with pytest.raises(DataError, match="dvc repro embeddings"):
        train(p, "lstm")
    with pytest.raises(ParamsError, match=r"embeddings\.min_n"):
        parse_params({"embeddings": {"min_n": 6, "max_n": 3}})
    with pytest.raises(ParamsError, match=r"train\.embedding_init"):
        parse_params({"train": {"embedding_init": "glove"}})


def test_tuning_trials_start_from_the_same_vectors_as_training(project, tmp_path):
    """Trials build the classifier as training does: pretrained vectors, frozen when asked."""
    from lightning.pytorch.callbacks import Callback

    from pipeline.stages.tune import tune

    root, params = project
    p = with_train(params, embedding_init="fasttext", freeze_embeddings=True)
    p = p.model_copy(update={"base": p.base.model_copy(update={"models_dir": str(tmp_path / "m")})})
    space = {"train.lr": {"type": "log_float", "low": 0.001, "high": 0.01}}
    tune_section = p.tune.model_copy(
        update={
            "architectures": ["lstm"],
            "n_trials": 1,
            "max_epochs": 1,
            "pruner": "none",
            "search_space": parse_params({"tune": {"search_space": space}}).tune.search_space,
            "storage": f"sqlite:///{tmp_path / 'optuna.db'}",
            "output_dir": str(tmp_path / "tuned"),
        }
    )
    p = p.model_copy(update={"tune": tune_section})
    embeddings.build(p)
    vocab = Vocab.load(root / "data/processed/vocab.json")
    start, _ = embeddings.embedding_matrix(vocab, embeddings.load_vectors(tmp_path / "m", "fasttext"), p.base.seed)
    seen = []

    class Watch(Callback):
        def on_fit_start(self, trainer, pl_module):
            seen.append(pl_module.word_embedding().weight.detach().clone())

        def on_fit_end(self, trainer, pl_module):
            seen.append(pl_module.word_embedding().weight.detach().clone())

    tune(p, "lstm", callbacks=[Watch()])
    assert len(seen) == 2
    assert torch.equal(seen[0], torch.as_tensor(start))  # the trial starts from the vectors
    assert torch.equal(seen[1], seen[0])  # and keeps them frozen
