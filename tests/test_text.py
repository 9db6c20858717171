import pytest

from pipeline.config import PreprocessParams
from pipeline.text.normalize import Normalizer
from pipeline.text.processor import TextProcessor
from pipeline.text.stemming import get_stemmer, light_stem
from pipeline.text.stopwords import load_stopwords
from pipeline.text.tokenize import tokenize
from pipeline.text.vocab import PAD, UNK, Vocab


def test_normalizer_steps():
    norm = Normalizer()
    assert norm("كِتَابٌ") == "كتاب"  # diacritics
    assert norm("جمـــيل") == "جميل"  # tatweel
    assert norm("أحمد إلى آمن ٱلله") == "احمد الي امن الله"  # alef forms (and ى)
    assert norm("على") == "علي"  # alef maqsura
    assert norm("مدرسة") == "مدرسه"  # ta marbuta
    assert norm("رااااائع") == "رائع"  # elongation
    assert norm("٣ ليالٍ و٢٠٠ ريال") == "3 ليال و200 ريال"  # digits
    assert norm("1000 نقطة") == "1000 نقطه"  # digits are never collapsed


@pytest.mark.parametrize(
    ("switch", "text"),
    [
        ("strip_diacritics", "كِتَاب"),
        ("strip_tatweel", "جمـيل"),
        ("unify_alef", "أحمد"),
        ("unify_ya", "على"),
        ("unify_ta_marbuta", "مدرسة"),
        ("collapse_elongation", "رااائع"),
        ("arabic_digits", "٣"),
    ],
)
def test_each_normalisation_switch_can_be_turned_off(switch, text):
    assert Normalizer(**{switch: False})(text) == Normalizer(**{k: False for k in Normalizer.__dataclass_fields__})(
        text
    )
    assert Normalizer()(text) != text


def test_tokenize_splits_arabic_punctuation_and_keeps_emoji_tokens():
    tokens = tokenize("جميل، لكن غالي؛ هل أنصح به؟ «نعم» 👍 WiFi 24")
    assert tokens == ["جميل", "لكن", "غالي", "هل", "أنصح", "به", "نعم", "👍", "wifi", "24"]  # fmt: skip


def test_stopwords_keep_negations():
    words = load_stopwords(normalize=Normalizer())
    assert "في" in words and "هذا" in words
    for negation in ("لا", "لم", "لن", "ليس", "غير", "ما", "مش"):
        assert negation not in words


def test_light_stemmer():
    assert light_stem("والكتاب") == "كتاب"
    assert light_stem("بالفندق") == "فندق"
    assert light_stem("المطعمين") == "مطعم"
    assert light_stem("من") == "من"  # too short to strip


@pytest.mark.parametrize("name", ["light", "isri", "snowball", "none"])
def test_every_stemmer_runs_offline(name):
    stem = get_stemmer(name)
    out = stem("المكتبات")
    assert isinstance(out, str) and out
    assert (out == "المكتبات") == (name == "none")


def test_unknown_stemmer_names_allowed_values():
    with pytest.raises(ValueError, match="allowed: light, isri, snowball, arlstem, arlstem2, qalsadi, none"):
        get_stemmer("porter")


def test_processor_end_to_end():
    process = TextProcessor(PreprocessParams())
    tokens = process("الفندقُ في المدينة لم يكن نظيفاً، والخدمة سيئـــة جدا")
    assert "في" not in tokens and "لم" in tokens
    assert "فندق" in tokens


def test_vocab_is_deterministic_and_respects_min_freq_and_cap():
    docs = [["ب", "ا", "ج"], ["ا", "ب"], ["ا", "د"]]
    vocab = Vocab.build(docs, min_freq=2)
    assert vocab.itos == [PAD, UNK, "ا", "ب"]
    assert vocab.encode(["ا", "غير"]) == [2, 1]
    assert Vocab.build(docs, min_freq=1, max_size=4).itos == [PAD, UNK, "ا", "ب"]


def test_vocab_round_trip(tmp_path):
    vocab = Vocab.build([["كتاب", "جميل", "كتاب"]])
    vocab.save(tmp_path / "v.json")
    assert Vocab.load(tmp_path / "v.json").itos == vocab.itos
