"""Preprocessing options added for real-world text: web noise, clitics, user stopwords, more stemmers."""

import pytest

from pipeline.config import ParamsError, PreprocessParams, parse_params
from pipeline.text.normalize import Normalizer
from pipeline.text.processor import TextProcessor
from pipeline.text.stemming import get_stemmer
from pipeline.text.tokenize import split_clitic, tokenize

NOISY = "رائع 😍 جدا https://x.com/a?b=1 @ali_88 #مطعم_جميل info@x.com WiFi"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["رائع", "😍", "جدا", "<url>", "<mention>", "مطعم", "جميل", "<email>", "wifi"]),
        ({"urls": "remove", "emails": "remove", "mentions": "remove"}, ["رائع", "😍", "جدا", "مطعم", "جميل", "wifi"]),
        ({"emoji": "token", "hashtags": "remove"}, ["رائع", "<emoji>", "جدا", "<url>", "<mention>", "<email>", "wifi"]),
        ({"emoji": "remove", "latin": "remove"}, ["رائع", "جدا", "<url>", "<mention>", "مطعم", "جميل", "<email>"]),
        (
            {"urls": "keep", "emails": "keep", "mentions": "keep", "hashtags": "keep"},
            [
                "رائع",
                "😍",
                "جدا",
                "https",
                "x",
                "com",
                "a",
                "b",
                "1",
                "ali",
                "88",
                "مطعم",
                "جميل",
                "info",
                "x",
                "com",
                "wifi",
            ],
        ),
    ],
)
def test_web_noise_options(options, expected):
    assert tokenize(Normalizer(**options)(NOISY)) == expected


def test_hamza_option():
    assert Normalizer(unify_hamza=True)("مسؤول بيئة") == "مسوول بييه"
    assert Normalizer()("مسؤول") == "مسؤول"


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("والكتاب", ["و", "الكتاب"]),
        ("بالفندق", ["ب", "الفندق"]),
        ("للبيت", ["ل", "البيت"]),
        ("وللبيت", ["و", "ل", "البيت"]),
        ("وبالمطعم", ["و", "ب", "المطعم"]),
        ("وصل", ["وصل"]),
        ("ولد", ["ولد"]),
        ("بلد", ["بلد"]),
        ("الكتاب", ["الكتاب"]),
    ],
)
def test_clitic_splitting_only_where_unambiguous(word, parts):
    assert split_clitic(word) == parts


def test_processor_with_clitics_and_stopwords_file(tmp_path):
    stop = tmp_path / "stop.txt"
    stop.write_text("# mine\nجدا\nو\n", encoding="utf-8")
    pp = PreprocessParams(clitics="split", stopwords_file=str(stop), stemmer="none")
    tokens = TextProcessor(pp)("والطعام لذيذ جدا في المطعم")
    assert tokens == ["الطعام", "لذيذ", "في", "المطعم"]  # user list replaces the built-in one


def test_missing_stopwords_file_is_a_params_error():
    with pytest.raises(ParamsError, match=r"preprocess\.stopwords_file.*nope\.txt"):
        parse_params({"preprocess": {"stopwords_file": "nope.txt"}})


@pytest.mark.parametrize("name", ["arlstem", "arlstem2"])
def test_more_stemmers(name):
    stem = get_stemmer(name)
    assert stem("والمكتبات") != "والمكتبات"
    assert stem("<url>") == "<url>" and stem("wifi") == "wifi" and stem("😍") == "😍"


def test_qalsadi_is_optional_and_says_how_to_install():
    try:
        import qalsadi  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install qalsadi"):
            get_stemmer("qalsadi")
    else:  # installed by the user: it must lemmatise
        assert get_stemmer("qalsadi")("الكتب")


# ------------------------------------------------------------------ over-stemming, protected words, lemmatiser

STEMMERS = ["light", "isri", "snowball", "arlstem", "arlstem2"]


def test_the_light_stemmer_never_leaves_fewer_than_three_letters():
    from pipeline.text.stemming import MIN_STEM, light_stem

    assert len(light_stem("الله")) == 3  # was له, the same token as the preposition + pronoun (the list keeps it whole)
    assert len(light_stem("اللي")) == 3
    assert light_stem("والكتاب") == "كتاب" and light_stem("المطعمين") == "مطعم"  # real affixes still go
    words = ["بالحب", "الان", "وها", "للبيت", "كتبها", "مدرستين"]
    assert all(len(light_stem(w)) >= min(MIN_STEM, len(w)) for w in words)


@pytest.mark.parametrize("name", STEMMERS)
def test_protected_words_pass_every_stemmer_untouched(name):
    from pipeline.config import PreprocessParams
    from pipeline.text.processor import TextProcessor

    process = TextProcessor(PreprocessParams(stemmer=name, remove_stopwords=False))
    assert process("الله يحفظكم يا فالحين")[0] == "الله"
    assert "فالحين" in process("الله يحفظكم يا فالحين")
    assert process("والمطاعم") != ["والمطاعم"] or name == "snowball"  # other words are still stemmed


def test_a_protected_words_file_replaces_the_list_and_an_empty_one_protects_nothing(tmp_path):
    from pipeline.config import PreprocessParams
    from pipeline.text.processor import TextProcessor

    mine = tmp_path / "keep.txt"
    mine.write_text("# mine\nالمطاعم\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    keep = TextProcessor(PreprocessParams(stemmer="light", protected_words_file=str(mine), remove_stopwords=False))
    assert keep("المطاعم الخدمة") == ["المطاعم", "خدم"]
    assert keep("الله") == ["الل"]  # not protected by this list: the three-letter rule alone
    bare = TextProcessor(PreprocessParams(stemmer="isri", protected_words_file=str(empty), remove_stopwords=False))
    assert bare("الله") != ["الله"]  # isri mangles it when nothing protects it


def test_a_missing_protected_words_file_is_a_params_error():
    with pytest.raises(ParamsError, match=r"preprocess\.protected_words_file.*nope\.txt"):
        parse_params({"preprocess": {"protected_words_file": "nope.txt"}})


def _qalsadi_installed() -> bool:
    import importlib.util
    import os

    if importlib.util.find_spec("qalsadi") is None:
        if os.environ.get("CI"):  # CI installs it (make test runs make setup-lemmatise): absent is a failure
            pytest.fail("qalsadi is not installed: `make setup-lemmatise` (make test does it)")
        pytest.skip("qalsadi (GPL-3.0 optional extra) not installed: `make setup-lemmatise`")
    return True


def test_the_qalsadi_lemmatiser_gives_dictionary_lemmas_offline():
    _qalsadi_installed()
    lemma = get_stemmer("qalsadi")
    assert lemma("والمطاعم") == "مطعم"  # a broken plural to its singular: beyond any affix stripper
    assert lemma("ممتازة") == "ممتاز" and lemma("بالفندق") == "فندق"
    assert lemma("الله") == "الله" and lemma("wifi") == "wifi"
