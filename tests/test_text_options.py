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
