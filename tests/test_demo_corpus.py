"""The embedded demo corpus: size, labels, variety."""

import re
from collections import Counter

from scraping.demo_site.build import TOPICS, load_corpus

ARABIC = re.compile(r"[\u0600-\u06ff]")
FIELDS = {"id", "item", "title", "author", "date", "score", "variety", "text", "comments", "topic"}


def test_corpus_size_fields_and_uniqueness():
    docs = load_corpus()
    assert len(docs) >= 400
    assert all(set(d) == FIELDS for d in docs)
    assert len({d["id"] for d in docs}) == len(docs)
    assert len({d["text"] for d in docs}) == len(docs)
    assert {d["topic"] for d in docs} == set(TOPICS)


def test_scores_cover_the_scale_in_every_topic():
    docs = load_corpus()
    assert all(isinstance(d["score"], int) and 0 <= d["score"] <= 10 for d in docs)
    for topic in TOPICS:
        assert {d["score"] for d in docs if d["topic"] == topic} == set(range(11))


def test_texts_are_arabic_and_varied():
    docs = load_corpus()
    for d in docs:
        letters = [c for c in d["text"] if c.isalpha()]
        assert sum(bool(ARABIC.match(c)) for c in letters) / len(letters) > 0.8, d["id"]
    lengths = sorted(len(d["text"].split()) for d in docs)
    assert lengths[0] <= 15 and lengths[-1] >= 80
    varieties = Counter(d["variety"] for d in docs)
    assert varieties["msa"] < len(docs) * 0.8 and len(varieties) >= 4
