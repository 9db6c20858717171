"""Unit tests of the scraping helpers: encodings, language, duplicates, boilerplate, reviews, journal."""

from __future__ import annotations

import json

import pytest
from parsel import Selector

from scraping.annotations import AnnotationsError, load_annotations, load_seed_urls
from scraping.boilerplate import main_text
from scraping.dedup import Deduplicator
from scraping.documents import ExtractionConfig, page_documents
from scraping.encoding import choose_encoding
from scraping.extract import find_reviews, parse_score_text, score_from_selectors
from scraping.journal import CrawlJournal
from scraping.language import language_drop_reason

AR = "الفندق نظيف جدا والموظفون ودودون، لكن الإفطار كان باردا في اليوم الثاني والانترنت بطيء في الغرف."


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (f"<p>{AR}</p>".encode("cp1256"), "text/html", ("cp1256", "detected")),
        (f"<p>{AR}</p>".encode("iso8859-6", errors="ignore"), None, ("iso8859-6", "detected")),
        (f"<p>{AR}</p>".encode(), "text/html", ("utf-8", "detected")),
        (f"<p>{AR}</p>".encode("cp1256"), "text/html; charset=iso-8859-1", ("cp1256", "header-corrected")),
        (f'<meta charset="windows-1256"><p>{AR}</p>'.encode("cp1256"), "text/html", ("cp1256", "meta")),
        ("<p>café crème</p>".encode("latin-1"), "text/html; charset=iso-8859-1", ("cp1252", "header")),
        (b"\xef\xbb\xbf<p>x</p>", "text/html; charset=cp1256", ("utf-8", "bom")),
    ],
)
def test_choose_encoding(body, content_type, expected):
    assert choose_encoding(body, content_type) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (AR, None),
        ("مملّه وايد، ما كملت نصها.", None),  # short Gulf-dialect review: kept
        ("این کتاب خیلی خوب بود و من آن را به همه پیشنهاد می‌کنم", "persian_or_urdu"),
        ("یہ کتاب بہت اچھی ہے اور میں اسے سب کو تجویز کرتا ہوں", "persian_or_urdu"),  # Urdu
        ("This hotel was clean and the staff were friendly, recommended. فندق", "not_arabic_script"),
        ("!!", "too_short"),
    ],
)
def test_language_drop_reason(text, reason):
    assert language_drop_reason(text) == reason


def test_dedup_exact_near_and_distinct():
    d = Deduplicator()
    assert d.check(AR) is None
    assert d.check(AR + "  ") == "exact_duplicate"
    assert d.check(AR + " شكرا جزيلا.") == "near_duplicate"
    assert d.check("المطعم هادئ والأسعار معقولة، جربت طبق السمك وكان طازجا ومتبلا بشكل ممتاز.") is None
    assert len(d) == 2


def test_main_text_keeps_article_and_drops_furniture():
    paras = "".join(f"<p>{AR} فقرة {i}، وتفاصيل أخرى كثيرة عن الإقامة.</p>" for i in range(4))
    page = f"""<html><body><header><nav><a href="/">الرئيسية</a><a href="/a">أخبار</a></nav></header>
    <div class="content"><h1>عنوان</h1>{paras}<div class="share"><a href="#">شارك هذا المقال على فيسبوك</a></div></div>
    <aside class="sidebar"><p>الأكثر قراءة: خبر جانبي طويل لا علاقة له بالموضوع الأساسي للصفحة</p></aside>
    <section id="comments"><p>تعليق زائر: مقال رائع جدا وشكرا للكاتب على هذا الجهد</p>
    <form><textarea>أضف تعليقا</textarea></form></section>
    <p class="x">تابعونا <a href="/privacy">سياسة الخصوصية</a> و<a href="/terms">شروط الاستخدام</a> للموقع كله</p>
    <footer>جميع الحقوق محفوظة للموقع والناشر منذ سنوات طويلة</footer><script>var a = "نص برمجي";</script>
    </body></html>"""
    text = main_text(page)
    assert text.count("فقرة") == 4 and text.split("\n\n")[0].startswith(AR[:20])
    for junk in ("الأكثر قراءة", "تعليق زائر", "جميع الحقوق", "نص برمجي", "شارك", "سياسة الخصوصية", "أضف"):
        assert junk not in text


MICRODATA = """<html><body>
<div itemscope itemtype="http://schema.org/Product"><span itemprop="name">هاتف</span>
 <div itemprop="review" itemscope itemtype="https://schema.org/Review">
  <span itemprop="author" itemscope itemtype="https://schema.org/Person"><span itemprop="name">سعاد</span></span>
  <div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">
   <meta itemprop="worstRating" content="1"><span itemprop="ratingValue">٤</span> من
   <span itemprop="bestRating">5</span>
  </div><p itemprop="reviewBody">شاشة ممتازة وبطارية تدوم طويلا</p></div>
 <div itemprop="review" itemscope itemtype="https://schema.org/Review">
  <div itemprop="reviewRating" itemscope itemtype="https://schema.org/Rating">
   <span itemprop="ratingValue">20</span><span itemprop="bestRating">100</span><span itemprop="worstRating">0</span>
  </div><div itemprop="reviewBody"><p>سيء</p><p>لا أنصح به</p></div></div>
</div></body></html>"""


def test_microdata_reviews_each_with_own_score_and_text():
    reviews = find_reviews(Selector(text=MICRODATA))
    assert [r["score"] for r in reviews] == [7.5, 2.0]  # Arabic-Indic ٤ on 1–5; 20 on 0–100
    assert reviews[0]["author"] == "سعاد" and reviews[0]["body"] == "شاشة ممتازة وبطارية تدوم طويلا"
    assert reviews[1]["body"] == "سيء\n\nلا أنصح به"
    docs = page_documents(Selector(text=MICRODATA), "http://x/p", ExtractionConfig())
    assert [d["url"] for d in docs] == ["http://x/p#review-1", "http://x/p#review-2"]


def test_jsonld_reviews_nested_in_a_product():
    data = {
        "@type": "Product",
        "review": [
            {"@type": "Review", "reviewBody": "رائع", "reviewRating": {"ratingValue": 10, "bestRating": 10}},
            {"@type": "Review", "reviewBody": "سيء", "reviewRating": {"ratingValue": 1}},
        ],
    }
    html = f'<script type="application/ld+json">{json.dumps(data)}</script>'
    assert [(r["body"], r["score"]) for r in find_reviews(Selector(text=html))] == [("رائع", 10.0), ("سيء", 0.0)]


def test_scores_from_selectors_and_annotations(tmp_path):
    sel = Selector(text='<div class="stars" data-v="4.5">التقييم: ٣٫٥ من ٥</div>')
    assert parse_score_text("8/10") == 8.0 and parse_score_text("لا يوجد") is None
    assert score_from_selectors(sel, [".missing", ".stars"], best=5, worst=0) == 7.0
    assert score_from_selectors(sel, ["xpath://div/@data-v"], best=5, worst=0) == 9.0
    cfg = ExtractionConfig(documents="reviews", annotations={"http://x/a": 3.0})
    page = Selector(text=f"<html><body><article><p>{AR}</p></article></body></html>")
    (doc,) = page_documents(page, "http://x/a", cfg)
    assert doc["score"] == 3.0 and doc["score_source"] == "annotation" and doc["text"] == AR
    assert page_documents(page, "http://x/b", cfg) == []  # no rating, no annotation: not a document
    csv = tmp_path / "a.csv"
    csv.write_text("# comment\nurl,score\nhttp://x/a,7\nhttp://x/b,\n", encoding="utf-8")
    assert load_annotations(csv) == {"http://x/a": 7.0}
    csv.write_text("url,score\nhttp://x/a,11\n", encoding="utf-8")
    with pytest.raises(AnnotationsError, match=r"a\.csv:2: score 11 is outside"):
        load_annotations(csv)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("# seeds\nhttps://a.example/  # main\n\nftp://b\n", encoding="utf-8")
    with pytest.raises(AnnotationsError, match=r"seeds\.txt:4: 'ftp://b'"):
        load_seed_urls(seeds)


def test_journal_replays_cuts_a_torn_record_and_discards_on_config_change(tmp_path):
    j = CrawlJournal(tmp_path / "s", "fp1").open()
    j.record("http://x/1", 0, status=200, links=["http://x/2", "http://x/3"], docs=[{"text": AR, "url": "http://x/1"}])
    j.record("http://x/2", 1, status=404, error="http_404")
    j.close()
    with (tmp_path / "s" / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"url": "http://x/3", "dep')  # a kill in the middle of a write
    again = CrawlJournal(tmp_path / "s", "fp1").open()
    assert again.frontier == {"http://x/3": 1} and again.is_done("http://x/2")
    assert again.summary.documents == 1 and again.summary.errors == {"http_404": 1}
    assert again.dedup.check(AR) == "exact_duplicate"
    assert (tmp_path / "s" / "journal.jsonl").read_bytes().endswith(b"}\n")
    again.close()
    changed = CrawlJournal(tmp_path / "s", "fp2").open()
    assert not changed.done and changed.summary.pages == 0
    changed.discard()
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("scrape", "fragments"),
    [
        ({"deny": ["(unclosed"]}, ["scrape.deny", "'(unclosed'", "regular expression"]),
        ({"text_selectors": ["div["]}, ["scrape.text_selectors", "'div['"]),
        ({"score_selectors": ["//p["]}, ["scrape.score_selectors", "'//p['"]),
        ({"documents": "pages"}, ["scrape.documents", "reviews", "all"]),
        ({"score_best": 5, "score_worst": 5}, ["score_best", "differ"]),
        ({"max_page_bytes": 10}, ["scrape.max_page_bytes"]),
        ({"near_duplicate_threshold": 1.5}, ["scrape.near_duplicate_threshold"]),
    ],
)
def test_scrape_params_are_validated_with_the_key_named(scrape, fragments):
    from pipeline.config import ParamsError, parse_params

    with pytest.raises(ParamsError) as err:
        parse_params({"scrape": scrape})
    for fragment in fragments:
        assert fragment in str(err.value)
