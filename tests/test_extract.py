import pytest
from parsel import Selector

from scraping.extract import content_hash, extract_text, find_reviews, normalize_rating, page_title


@pytest.mark.parametrize(
    ("value", "best", "worst", "expected"),
    [
        (7, 10, 0, 7.0),
        (4.5, 5, 0, 9.0),
        ("80", "100", "0", 8.0),
        (3, 5, 1, 5.0),
        (3, None, None, 5.0),  # schema.org defaults: best 5, worst 1
        (0, None, None, 0.0),  # a 0-star rating with implicit bounds
        ("4,5", 5, 0, 9.0),
        (6, 5, 0, None),  # above best
        ("n/a", 5, 0, None),
        (None, 5, 0, None),
        (3, 5, 5, None),  # degenerate scale
    ],
)
def test_normalize_rating(value, best, worst, expected):
    assert normalize_rating(value, best, worst) == expected


PAGE = """<html><head><title>t | site</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
 {"@type": "WebPage", "name": "p"},
 {"@type": "Review", "name": "عنوان", "reviewRating": {"ratingValue": "2", "bestRating": "5", "worstRating": "1"},
  "itemReviewed": {"@type": "Book", "name": "كتاب"}, "author": {"@type": "Person", "name": "سعاد"}}]}</script>
<script type="application/ld+json">{not json</script>
<style>.x{}</style></head><body><nav>القائمة</nav>
<article><h1>عنوان</h1><div class="review-body" itemprop="reviewBody"><p>الفقرة الأولى <b>مهمة</b>.</p>
<script>var x = 1;</script><p>الفقرة الثانية.</p></div></article>
<section class="comments"><p>تعليق زائر لا يدخل في النص</p></section><footer>حقوق</footer></body></html>"""


def test_find_reviews_in_graph_with_string_numbers():
    (review,) = find_reviews(Selector(text=PAGE))
    assert review["score"] == 2.5
    assert review["item_reviewed"] == "كتاب" and review["author"] == "سعاد"


def test_extract_text_keeps_paragraphs_drops_scripts_and_comments():
    text = extract_text(Selector(text=PAGE), ['[itemprop="reviewBody"]', "article"])
    assert text == "الفقرة الأولى مهمة .\n\nالفقرة الثانية."
    assert "تعليق" not in text and "var x" not in text


def test_extract_text_falls_back_through_selectors():
    sel = Selector(text="<html><body><main><div class='post'>نص المقال هنا</div></main></body></html>")
    assert extract_text(sel, [".missing", "div.post"]) == "نص المقال هنا"
    assert extract_text(sel, [".missing"]) == ""


def test_page_title_and_hash():
    assert page_title(Selector(text=PAGE)) == "عنوان"
    assert content_hash("a  b\n") == content_hash("a b")
    assert content_hash("a b") != content_hash("a c")


def test_pages_without_review_yield_nothing():
    assert find_reviews(Selector(text="<html><body><p>x</p></body></html>")) == []
