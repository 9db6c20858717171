"""Render the embedded demo corpus into a static Arabic review site.

The pages carry what real review sites carry: navigation, breadcrumbs, a sidebar, a
cookie banner, comments and a comment form, a footer, inline scripts and styles,
paginated category pages, a ``robots.txt`` and schema.org JSON-LD ``Review`` data.
Each topic uses a different rating scale (0–10, 0–5 stars in halves, 0–100 and 1–5)
so the spider's normalisation to 0–10 is exercised; the JSON-LD shape varies too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

CORPUS_DIR = Path(__file__).with_name("corpus")
PAGE_SIZE = 10


@dataclass(frozen=True)
class Scale:
    best: float
    worst: float
    step: float

    def rating(self, score: int) -> float:
        """The on-page rating for a 0–10 score (exact on this scale)."""
        value = self.worst + score / 10 * (self.best - self.worst)
        return round(value, 2)


TOPICS = {
    "books": ("كتب", Scale(best=10, worst=0, step=1)),
    "restaurants": ("مطاعم", Scale(best=5, worst=0, step=0.5)),
    "hotels": ("فنادق", Scale(best=100, worst=0, step=10)),
    "products": ("منتجات", Scale(best=5, worst=1, step=0.4)),
}

STYLE = """body{font-family:Tahoma,Arial,sans-serif;margin:0;background:#fafafa;color:#222}
header,footer{background:#1d3557;color:#fff;padding:.6em 1em}header a,footer a{color:#fff;margin-inline-end:1em}
main{display:flex;gap:2em;padding:1em}article{flex:3;background:#fff;padding:1em}aside{flex:1}
.comment{border-top:1px solid #ddd;padding:.4em 0}.cookie{position:fixed;bottom:0;background:#ffd}"""


def load_corpus(corpus_dir: Path = CORPUS_DIR) -> list[dict]:
    """All documents of the demo corpus, in file then id order."""
    docs = []
    for path in sorted(corpus_dir.glob("*.jsonl")):
        topic = path.stem
        if topic not in TOPICS:
            raise ValueError(f"{path}: unknown topic {topic!r}; known: {', '.join(TOPICS)}")
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
                doc["topic"] = topic
                docs.append(doc)
    return docs


def _layout(title: str, body: str, depth: int, head_extra: str = "") -> str:
    up = "../" * depth
    nav = "".join(f'<a href="{up}category/{t}/index.html">{escape(ar)}</a>' for t, (ar, _) in TOPICS.items())
    return f"""<!DOCTYPE html>
<html lang="ar" dir="rtl">
<head>
<meta charset="utf-8">
<title>{escape(title)} | مراجعات عربية</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style>
{head_extra}
<script>window.dataLayer=window.dataLayer||[];function track(e){{dataLayer.push(e)}}track({{page:"view"}});</script>
</head>
<body>
<header>
<a class="logo" href="{up}index.html">مراجعات عربية</a>
<nav class="menu"><a href="{up}index.html">الرئيسية</a>{nav}<a href="{up}about.html">من نحن</a></nav>
<form class="search" action="{up}search"><input name="q" placeholder="ابحث عن مراجعة"><button>بحث</button></form>
</header>
{body}
<footer>
<nav><a href="{up}about.html">من نحن</a><a href="{up}privacy.html">سياسة الخصوصية</a>
<a href="{up}admin/index.html">لوحة التحكم</a></nav>
<p>جميع الحقوق محفوظة © موقع مراجعات عربية التجريبي. هذا موقع تجريبي صغير لأغراض العرض.</p>
</footer>
<div class="cookie">نستخدم ملفات تعريف الارتباط لتحسين تجربتك. <button>موافق</button></div>
</body>
</html>
"""


def _jsonld(doc: dict, scale: Scale, variant: int) -> str:
    review = {
        "@type": "Review",
        "name": doc["title"],
        "author": {"@type": "Person", "name": doc["author"]},
        "datePublished": doc["date"],
        "itemReviewed": {"@type": "Thing", "name": doc["item"]},
        "reviewRating": {
            "@type": "Rating",
            "ratingValue": scale.rating(doc["score"]),
            "bestRating": scale.best,
            "worstRating": scale.worst,
        },
        "inLanguage": "ar",
    }
    if variant == 1 and scale.best == 5 and scale.worst == 1:  # schema.org defaults may be left out
        del review["reviewRating"]["bestRating"], review["reviewRating"]["worstRating"]
    if variant == 2:  # some sites put numbers in strings
        review["reviewRating"] = {k: str(v) if k != "@type" else v for k, v in review["reviewRating"].items()}
    if variant == 3:  # others wrap everything in a @graph
        payload: dict = {
            "@context": "https://schema.org",
            "@graph": [{"@type": "WebPage", "name": doc["title"]}, review],
        }
    else:
        payload = {"@context": "https://schema.org", **review}
    text = json.dumps(payload, ensure_ascii=False, indent=1)
    return f'<script type="application/ld+json">\n{text}\n</script>'


def _stars(scale: Scale, score: int) -> str:
    value = scale.rating(score)
    return f'<div class="rating" aria-label="التقييم">التقييم: {value:g} من {scale.best:g}</div>'


def review_page(doc: dict, related: Iterable[dict], variant: int) -> str:
    ar_topic, scale = TOPICS[doc["topic"]]
    paragraphs = "".join(f"<p>{escape(p.strip())}</p>" for p in doc["text"].split("\n\n") if p.strip())
    comments = "".join(
        f'<div class="comment"><span class="who">زائر</span><p>{escape(c)}</p></div>' for c in doc.get("comments", [])
    )
    sidebar = "".join(f'<li><a href="{r["id"]}.html">{escape(r["title"])}</a></li>' for r in related)
    body = f"""<nav class="breadcrumb"><a href="../index.html">الرئيسية</a> › <a href="../category/{doc["topic"]}/index.html">{escape(ar_topic)}</a></nav>
<main>
<article class="review">
<h1>{escape(doc["title"])}</h1>
<p class="meta">مراجعة <b>{escape(doc["item"])}</b> بقلم {escape(doc["author"])} — <time datetime="{doc["date"]}">{doc["date"]}</time></p>
{_stars(scale, doc["score"])}
<div class="review-body" itemprop="reviewBody">{paragraphs}</div>
<div class="share">شارك المراجعة: <a href="#">فيسبوك</a> <a href="#">تويتر</a> <a href="#">واتساب</a></div>
</article>
<aside><h3>مراجعات ذات صلة</h3><ul>{sidebar}</ul>
<div class="ad">إعلان: اشترك في نشرتنا البريدية الأسبوعية</div></aside>
</main>
<section id="comments" class="comments"><h3>التعليقات ({len(doc.get("comments", []))})</h3>{comments}
<form class="comment-form"><textarea name="c" placeholder="أضف تعليقك"></textarea><button>أرسل</button></form>
</section>"""
    return _layout(doc["title"], body, depth=1, head_extra=_jsonld(doc, scale, variant))


def category_pages(topic: str, docs: list[dict]) -> dict[str, str]:
    ar_topic, _ = TOPICS[topic]
    pages: dict[str, str] = {}
    chunks = [docs[i : i + PAGE_SIZE] for i in range(0, len(docs), PAGE_SIZE)] or [[]]
    names = ["index.html"] + [f"page-{n}.html" for n in range(2, len(chunks) + 1)]
    for n, (name, chunk) in enumerate(zip(names, chunks, strict=True)):
        items = "".join(
            f'<li class="teaser"><a href="../../review/{d["id"]}.html">{escape(d["title"])}</a>'
            f" <span>{escape(d['item'])}</span></li>"
            for d in chunk
        )
        links = []
        if n > 0:
            links.append(f'<a rel="prev" href="{names[n - 1]}">السابق</a>')
        links.append(f"<span>صفحة {n + 1} من {len(chunks)}</span>")
        if n + 1 < len(chunks):
            links.append(f'<a rel="next" href="{names[n + 1]}">التالي</a>')
        head = f'<link rel="next" href="{names[n + 1]}">' if n + 1 < len(chunks) else ""
        body = f"""<main><section class="listing"><h1>مراجعات {escape(ar_topic)}</h1><ul>{items}</ul>
<nav class="pagination">{" ".join(links)}</nav></section></main>"""
        pages[name] = _layout(f"مراجعات {ar_topic}", body, depth=2, head_extra=head)
    return pages


def build_site(out_dir: Path, corpus_dir: Path = CORPUS_DIR) -> dict[str, int]:
    """Write the static site into ``out_dir``; return page counts."""
    docs = load_corpus(corpus_dir)
    out_dir = Path(out_dir)
    (out_dir / "review").mkdir(parents=True, exist_ok=True)
    by_topic: dict[str, list[dict]] = {t: [] for t in TOPICS}
    for doc in docs:
        by_topic[doc["topic"]].append(doc)
    for topic, tdocs in by_topic.items():
        for i, doc in enumerate(tdocs):
            related = [tdocs[(i + k) % len(tdocs)] for k in (1, 2, 3) if len(tdocs) > k]
            page = review_page(doc, related, variant=i % 4)
            (out_dir / "review" / f"{doc['id']}.html").write_text(page, encoding="utf-8")
        cat_dir = out_dir / "category" / topic
        cat_dir.mkdir(parents=True, exist_ok=True)
        for name, page in category_pages(topic, tdocs).items():
            (cat_dir / name).write_text(page, encoding="utf-8")
    latest = sorted(docs, key=lambda d: (d["date"], d["id"]), reverse=True)[:8]
    teasers = "".join(f'<li><a href="review/{d["id"]}.html">{escape(d["title"])}</a></li>' for d in latest)
    cats = "".join(
        f'<li><a href="category/{t}/index.html">{escape(ar)}</a> ({len(by_topic[t])})</li>'
        for t, (ar, _) in TOPICS.items()
    )
    home = f"<main><section><h1>أحدث المراجعات</h1><ul>{teasers}</ul></section><aside><h3>الأقسام</h3><ul>{cats}</ul></aside></main>"
    (out_dir / "index.html").write_text(_layout("الرئيسية", home, depth=0), encoding="utf-8")
    about = "<main><section><h1>من نحن</h1><p>موقع تجريبي يضم مراجعات كتبت خصيصا لهذا المشروع.</p></section></main>"
    (out_dir / "about.html").write_text(_layout("من نحن", about, depth=0), encoding="utf-8")
    privacy = "<main><section><h1>سياسة الخصوصية</h1><p>لا نجمع أي بيانات شخصية.</p></section></main>"
    (out_dir / "privacy.html").write_text(_layout("الخصوصية", privacy, depth=0), encoding="utf-8")
    (out_dir / "admin").mkdir(exist_ok=True)
    admin = _layout("لوحة التحكم", "<main><h1>ممنوع الدخول</h1></main>", depth=1)
    (out_dir / "admin" / "index.html").write_text(admin, encoding="utf-8")
    (out_dir / "robots.txt").write_text("User-agent: *\nDisallow: /admin/\nDisallow: /search\n", encoding="utf-8")
    return {"reviews": len(docs), "categories": len(TOPICS)}
