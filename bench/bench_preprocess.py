"""Benchmark preprocessing: text throughput on one core (cached vs naive) and the stage's peak memory.

- Throughput: normalise + tokenise + stopwords + light stem on ~100-word documents, in this
  process (one core), against a naive version of the same steps (no per-word-type stem cache,
  stopwords looked up in a list) in the same run.
- Memory: the whole preprocess stage (two streaming passes, MinHash grouping, MLflow logging) in
  a fresh process on 10k and 100k documents; peak RSS should not grow with the corpus.
- Workers: the 100k run again with ``num_workers: 2``.

Documents are synthetic: words drawn from the demo corpus, so the vocabulary is realistic.
Writes ``reports/bench/preprocess.json``.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from pipeline.config import PreprocessParams
from pipeline.text.normalize import Normalizer
from pipeline.text.processor import TextProcessor
from pipeline.text.stemming import light_stem
from pipeline.text.stopwords import load_stopwords
from pipeline.text.tokenize import tokenize
from scraping.demo_site.build import load_corpus

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, save, table

WORDS_PER_DOC = 100


def synthetic_docs(n: int, seed: int = 0) -> list[str]:
    words = [w for d in load_corpus() for w in d["text"].split()]
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=WORDS_PER_DOC)) for _ in range(n)]


def naive_processor(pp: PreprocessParams):
    """The same steps without the optimisations: no stem cache, stopwords in a list."""
    norm = Normalizer(**pp.normalize.model_dump())
    stop = list(load_stopwords(normalize=norm))

    def run(text: str) -> list[str]:
        return [light_stem(t) for t in tokenize(norm(text)) if t not in stop]

    return run


def throughput(fn, docs: list[str]) -> float:
    start = time.perf_counter()
    for doc in docs:
        fn(doc)
    return len(docs) / (time.perf_counter() - start)


def stage_peak_rss(n_docs: int, workers: int, tmp: Path) -> tuple[float, float]:
    """Run the preprocess stage in a fresh process on ``n_docs`` documents; (peak RSS MB, seconds)."""
    work = tmp / f"stage-{n_docs}-{workers}"
    (work / "data" / "raw").mkdir(parents=True)
    rng = random.Random(n_docs)
    texts = synthetic_docs(min(n_docs, 20000), seed=1)
    with (work / "data" / "raw" / "docs.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n_docs):
            words = texts[i % len(texts)].split()
            rng.shuffle(words)  # distinct documents, no near-duplicate flood
            doc = {
                "url": f"http://bench/{i}",
                "text": " ".join(words),
                "score": rng.randint(0, 10),
                "content_hash": f"{i:08d}",
            }
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["preprocess"]["num_workers"] = workers
    (work / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    code = (
        "import resource, time; from pipeline.config import load_params;"
        " from pipeline.data.preprocessing import preprocess;"
        "t = time.perf_counter(); preprocess(load_params()); t = time.perf_counter() - t;"
        "ru = resource.getrusage; r = ru(resource.RUSAGE_SELF).ru_maxrss + ru(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "print(r / 1024, t)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, check=True)
    rss, seconds = map(float, out.stdout.split()[-2:])
    return rss, seconds


def main() -> None:
    pp = PreprocessParams()  # the defaults: light stemmer, built-in stopwords
    docs = synthetic_docs(20000)
    cached = TextProcessor(pp)
    throughput(cached, docs[:500])  # warm the stem cache as a long run would
    docs_per_s = throughput(cached, docs)
    naive_docs_per_s = throughput(naive_processor(pp), docs[:5000])
    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as tmp:
        rss_10k, t_10k = stage_peak_rss(10_000, 1, Path(tmp))
        rss_100k, t_100k = stage_peak_rss(100_000, 1, Path(tmp))
        rss_100k_w2, t_100k_w2 = stage_peak_rss(100_000, 2, Path(tmp))
    figures = {
        "words_per_doc": WORDS_PER_DOC,
        "docs_per_s": round(docs_per_s),
        "naive_docs_per_s": round(naive_docs_per_s),
        "speedup_vs_naive": round(docs_per_s / naive_docs_per_s, 2),
        "peak_rss_mb_10k": round(rss_10k, 1),
        "peak_rss_mb_100k": round(rss_100k, 1),
        "stage_s_10k": round(t_10k, 1),
        "stage_s_100k": round(t_100k, 1),
        "stage_s_100k_2_workers": round(t_100k_w2, 1),
        "peak_rss_mb_100k_2_workers": round(rss_100k_w2, 1),
    }
    path = save("preprocess", figures)
    print("preprocess: normalise + tokenise + stopwords + light stem (one core, ~100-word documents)")
    table(
        [
            ("cached (docs/s)", figures["docs_per_s"]),
            ("naive, un-cached (docs/s)", figures["naive_docs_per_s"]),
            ("speed-up", figures["speedup_vs_naive"]),
            ("stage peak RSS 10k / 100k docs (MB)", f"{figures['peak_rss_mb_10k']} / {figures['peak_rss_mb_100k']}"),
            ("stage time 10k / 100k docs (s)", f"{figures['stage_s_10k']} / {figures['stage_s_100k']}"),
            ("stage time 100k, 2 workers (s)", figures["stage_s_100k_2_workers"]),
        ]
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
