"""Language-model building blocks without training: tokenizer, packing, sampling, prompts, metrics, params."""

import math

import pytest
import torch

from pipeline.config import DecodingParams, ParamsError, load_params
from pipeline.data.split import read_split
from pipeline.generation.metrics import bleu_chrf, distinct_n, perplexity
from pipeline.generation.networks import GPT2LM, RecurrentLM
from pipeline.generation.packing import IGNORE, document_ids, pack, token_stream
from pipeline.generation.prompts import PromptError, check_prompt
from pipeline.generation.sampling import generate_ids, next_token_scores
from pipeline.generation.tokenizer import Codec, load_tokenizer
from pipeline.stages.lm_tokenizer import build_tokenizer, tokenizer_dir
from tests.conftest import write_params
from tests.gen_helpers import LABELS, make_rows, write_processed

VAL_ONLY = "زعفرانيةمدهشة"  # a long word repeated in the val split only


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        write_params(root / "params.yaml", {"generate.tokenizer.vocab_size": 400})
        write_processed(root, val_extra=" ".join([VAL_ONLY] * 5))
        params = load_params()
        summary = build_tokenizer(params)
        tokenizer, meta = load_tokenizer(tokenizer_dir(params))
        yield Codec(tokenizer, meta["labels"]), meta, summary, root


def test_tokenizer_is_trained_on_the_train_split_only(codec):
    c, meta, summary, root = codec
    assert meta["trained_on"] == "train" and meta["documents"] == 60 == summary["documents"]
    assert meta["class_tokens"] == {lab: f"<{lab}>" for lab in LABELS}
    vocab = c.tokenizer.get_vocab()
    # a word frequent in the val split only never became a token (nor its long pieces) ...
    assert len(c.encode(" " + VAL_ONLY)) >= 4
    assert not any(VAL_ONLY[:6] in c.tokenizer.convert_tokens_to_string([t]) for t in vocab)
    # ... while frequent train words are single tokens
    train_text = read_split(root / "data/processed/train.jsonl")[0]["text"]
    assert len(c.encode(train_text)) < len(train_text.split()) * 2


def test_tokenizer_round_trips_arabic_and_has_class_tokens(codec):
    c, *_ = codec
    text = "الطعام في هذا المطعم كان رائع جدا، أنصح به!"
    assert c.decode(c.encode(text)) == text
    ids = {c.class_ids[lab] for lab in LABELS}
    assert len(ids) == 3 and c.bos_id not in ids and c.eos_id not in ids
    assert c.eos_id not in c.banned_ids and c.bos_id in c.banned_ids and ids <= set(c.banned_ids)
    with pytest.raises(Exception, match="unknown label 'great'"):
        c.prefix("great")


def test_packing_makes_full_blocks_without_padding(codec):
    c, *_ = codec
    rows = make_rows(12, 5)
    ids, targets, classes = token_stream(c, rows)
    block = 16
    blocks = pack(ids, targets, classes, block)
    assert len(blocks) == (len(ids) - 1) // block and blocks
    pad = c.tokenizer.pad_token_id
    given = {c.bos_id, *c.class_ids.values()}
    for i, (x, k, y) in enumerate(blocks):
        assert x.shape == k.shape == y.shape == (block,)
        assert pad not in x.tolist()
        # targets are the stream shifted by one (given tokens masked); classes follow the inputs
        assert x.tolist() == ids[i * block : (i + 1) * block] and k.tolist() == classes[i * block : (i + 1) * block]
        assert y.tolist() == [t if t not in given else IGNORE for t in ids[i * block + 1 : (i + 1) * block + 1]]
    # with the remainder kept, every token but the first is a target exactly once
    full = pack(ids, targets, classes, block, keep_remainder=True)
    assert sum(len(x) for x, _, _ in full) == len(ids) - 1
    assert all(len(x) == block for x, _, _ in full[:-1]) and 0 < len(full[-1][0]) <= block
    # documents: <s> <label> text </s>, every position tagged with its document's class id
    first = document_ids(c, rows[0]["text"], rows[0]["label_name"])
    assert ids[: len(first)] == first
    assert classes[: len(first)] == [1 + LABELS.index(rows[0]["label_name"])] * len(first)
    assert ids.count(c.bos_id) == 12 and ids.count(c.eos_id) == 12


def test_class_token_dropout_is_seeded(codec):
    c, *_ = codec
    rows = make_rows(40, 6)
    n_class = lambda ids: sum(ids.count(i) for i in c.class_ids.values())  # noqa: E731
    assert n_class(token_stream(c, rows, 0.0)[0]) == 40
    assert n_class(token_stream(c, rows, 1.0)[0]) == 0
    some = token_stream(c, rows, 0.5, seed=3)[0]
    assert 5 < n_class(some) < 35 and some == token_stream(c, rows, 0.5, seed=3)[0]
    # a document without its class token is tagged class 0 at every position
    ids, _, classes = token_stream(c, rows, 1.0)
    assert set(classes) == {0} and len(classes) == len(ids)


def test_perplexity_is_guarded_against_overflow():
    assert perplexity(math.log(5.0)) == pytest.approx(5.0)
    assert perplexity(1000.0) == math.inf  # math.exp(1000) would raise OverflowError
    assert perplexity(float("nan")) == math.inf and perplexity(float("inf")) == math.inf


def test_distinct_n_bleu_chrf():
    assert distinct_n(["a b a b", "a b"], 1) == pytest.approx(2 / 6)
    assert distinct_n(["a b a b", "a b"], 2) == pytest.approx(2 / 4)
    assert distinct_n(["a"], 2) == 0.0
    refs = ["الطعام كان رائعا جدا والخدمة ممتازة", "الغرفة نظيفة والموظفون لطفاء"]
    assert bleu_chrf(refs, refs) == (pytest.approx(100.0), pytest.approx(100.0))
    bleu, chrf = bleu_chrf(["الطعام كان سيئا", "الغرفة متسخة"], refs)
    assert 0 <= bleu < 50 and 0 < chrf < 60


def _logits() -> torch.Tensor:
    return torch.tensor([0.0, 3.0, 2.0, 1.0, 0.5, -1.0])


def test_top_k_and_top_p_restrict_the_support():
    scores = next_token_scores(_logits(), [], DecodingParams(top_k=2))
    assert torch.isfinite(scores).nonzero().flatten().tolist() == [1, 2]
    probs = torch.softmax(_logits(), -1)
    # top_p just above the two most likely tokens' mass keeps three
    p = float(probs[1] + probs[2]) + 1e-3
    scores = next_token_scores(_logits(), [], DecodingParams(top_p=p))
    assert sorted(torch.isfinite(scores).nonzero().flatten().tolist()) == [1, 2, 3]
    scores = next_token_scores(_logits(), [], DecodingParams(top_p=0.01))
    assert torch.isfinite(scores).nonzero().flatten().tolist() == [1]  # the best token always stays
    banned = next_token_scores(_logits(), [], DecodingParams(), banned=[1])
    assert banned[1] == -math.inf


def test_repetition_penalty_and_temperature():
    greedy = DecodingParams(greedy=True)
    assert int(torch.argmax(next_token_scores(_logits(), [1], greedy))) == 1
    penalised = next_token_scores(_logits(), [1], DecodingParams(greedy=True, repetition_penalty=2.0))
    assert penalised[1] == pytest.approx(1.5) and int(torch.argmax(penalised)) == 2
    assert next_token_scores(_logits(), [5], DecodingParams(repetition_penalty=2.0))[5] == pytest.approx(-2.0)
    hot = torch.softmax(next_token_scores(_logits(), [], DecodingParams(temperature=5.0)), -1)
    cold = torch.softmax(next_token_scores(_logits(), [], DecodingParams(temperature=0.2)), -1)
    assert cold.max() > torch.softmax(_logits(), -1).max() > hot.max()


@pytest.fixture(scope="module")
def tiny_lms():
    torch.manual_seed(0)
    return [
        RecurrentLM(50, num_classes=3, embedding_dim=16, hidden_dim=16).eval(),
        GPT2LM.from_config(50, 1, 2, 16, 32, 0.0, num_classes=3).eval(),
    ]


def test_generation_obeys_limits_and_seeds(tiny_lms):
    sampled = DecodingParams(temperature=1.5, top_k=10)
    for lm in tiny_lms:
        for n in (1, 7, 20):
            out = generate_ids(lm, [1, 2, 3], sampled, n, eos_id=-1)  # no end token: runs to the limit
            assert len(out) == n
        a = generate_ids(lm, [1, 2], sampled, 15, eos_id=-1, seed=1)
        assert a == generate_ids(lm, [1, 2], sampled, 15, eos_id=-1, seed=1)
        assert a != generate_ids(lm, [1, 2], sampled, 15, eos_id=-1, seed=2)
        greedy = DecodingParams(greedy=True)
        assert generate_ids(lm, [4], greedy, 10, -1, seed=1) == generate_ids(lm, [4], greedy, 10, -1, seed=9)
        banned = list(range(25))
        assert not set(generate_ids(lm, [4], sampled, 30, -1, banned=banned)) & set(banned)
        # top-k 1 is greedy
        assert generate_ids(lm, [4], DecodingParams(top_k=1), 10, -1, seed=3) == generate_ids(lm, [4], greedy, 10, -1)


def test_generation_stops_at_end_token_and_respects_the_context(tiny_lms):
    lstm, gpt2 = tiny_lms
    first = generate_ids(lstm, [4], DecodingParams(greedy=True), 5, -1)[0]
    assert generate_ids(lstm, [4], DecodingParams(greedy=True), 5, eos_id=first) == []
    with pytest.raises(ValueError, match="exceed the model's context"):
        generate_ids(gpt2, list(range(20)), DecodingParams(), 13, -1)  # 20 + 13 > 32 positions
    assert len(generate_ids(gpt2, list(range(20)), DecodingParams(), 12, -1)) == 12


def test_cached_gpt2_steps_match_a_full_forward(tiny_lms):
    _, gpt2 = tiny_lms
    _, state = gpt2.start([1, 2, 3])
    step, _ = gpt2.step(7, state)
    with torch.no_grad():
        full = gpt2(torch.tensor([[1, 2, 3, 7]]))[0, -1]
    assert torch.allclose(step, full, atol=1e-5)


def test_class_embedding_conditions_training_and_generation(tiny_lms):
    for lm in tiny_lms:
        ids = torch.tensor([[4, 5, 6]])
        # zero at first: an untrained model ignores the class
        assert torch.allclose(lm(ids, torch.full_like(ids, 1)), lm(ids, torch.full_like(ids, 2)))
        with torch.no_grad():
            lm.cls.weight.normal_(0, 1.0)
        a, b = lm(ids, torch.full_like(ids, 1)), lm(ids, torch.full_like(ids, 2))
        assert not torch.allclose(a, b)
        # the incremental path (start/step) conditions on the same class as a full forward
        logits, state = lm.start([4, 5], cls=2)
        step, _ = lm.step(6, state)
        assert torch.allclose(step, b[0, -1], atol=1e-5) and torch.allclose(logits, b[0, 1], atol=1e-5)
        greedy = DecodingParams(greedy=True)
        outs = {k: tuple(generate_ids(lm, [4], greedy, 8, -1, cls=k)) for k in (0, 1, 2, 3)}
        assert len(set(outs.values())) > 1
        with torch.no_grad():
            lm.cls.weight.zero_()


def test_bad_prompts_get_clear_messages(codec):
    c, *_ = codec
    with pytest.raises(PromptError, match="empty prompt"):
        check_prompt("   \n ", c, 32, 400)
    with pytest.raises(PromptError, match="empty prompt"):
        check_prompt("\u064b\u064e", c, 32, 400)  # only diacritics: nothing left after normalisation
    with pytest.raises(PromptError, match="no Arabic letter"):
        check_prompt("The food was great", c, 32, 400)
    with pytest.raises(PromptError, match=r"too long: \d+ tokens; the limit is generate.max_prompt_tokens = 5"):
        check_prompt("الطعام في هذا المطعم كان رائع جدا والخدمة ممتازة", c, 5, 400)
    with pytest.raises(PromptError, match="max_prompt_chars = 10"):
        check_prompt("الطعام في هذا المطعم", c, 32, 10)
    ids = check_prompt("  الطعام  في المطعم ", c, 32, 400)
    assert c.decode(ids) == "الطعام في المطعم"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"generate.prompts": {"food": ["great food"]}}, "generate.prompts.food"),
        ({"generate.prompts": {"food": [" "]}}, "is empty"),
        ({"generate.models": ["lstm_lm", "bert"]}, "unknown language model 'bert'"),
        ({"generate.eval.decoding": "beam"}, "generate.eval.decoding 'beam'"),
        ({"generate.gpt2.n_positions": 64}, "exceeds generate.gpt2.n_positions"),
        ({"generate.decodings.greedy.top_p": 1.5}, "generate.decodings.greedy.top_p"),
        ({"generate.lstm_lm.hidden_dim": 64}, "tie_weights"),
        ({"generate.train.blocksize": 64}, "unknown key"),
    ],
)
def test_generate_params_are_validated(workdir, override, message):
    write_params(workdir / "params.yaml", override)
    with pytest.raises(ParamsError, match=message):
        load_params()
