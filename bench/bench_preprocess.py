"""Benchmark preprocessing: text throughput on one core (cached vs naive) and the stage's peak memory.

- Throughput: normalise + tokenise + stopwords + light stem on ~100-word documents, in this
  process (one core), against a naive version of the same steps (no per-word-type stem cache,
  stopwords looked up in a list) in the same run.
- Memory: the whole preprocess stage (two streaming passes, MinHash grouping, MLflow logging) in
  a fresh process on 10k and 100k documents; peak RSS should not grow with the corpus.
- Workers: the 100k run again with ``num_workers: 2``.
- Scaling (``--parts scaling``): the stage's documents per second with ``num_workers`` 1 and 2 on
  ``--scaling-docs`` documents (``docs_per_s_1proc``, ``docs_per_s_2proc``; goal: 2 processes >= 1.7x one).
- Memory at scale (``--parts memory``): the stage's peak RSS in one process (the main process holds the
  per-document state) at 100k and 1M documents (``peak_rss_mb_100k``, ``peak_rss_mb_1m``; goal: 1M <= 1.2x 100k).

Documents are synthetic: words drawn from the demo corpus, so the vocabulary is realistic.
Adds its figures to ``reports/bench/preprocess.json`` (``--parts`` picks: text, stage, scaling, memory).
"""

from __future__ import annotations

import argparse
import json
import os
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
from _common import OUT_DIR, REPO, save, table

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
    run = stage_run(n_docs, workers, tmp)
    return run["rss_mb"], run["seconds"]


def stage_run(n_docs: int, workers: int, tmp: Path) -> dict[str, float]:
    """The preprocess stage in a fresh process on ``n_docs`` documents: peak RSS (MB, the process plus its
    largest worker), wall seconds, CPU seconds of the main process and of its pool workers."""
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
        "me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print((me.ru_maxrss + kids.ru_maxrss) / 1024, t, me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime)"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    out = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(f"preprocess on {n_docs} documents failed: {out.stderr[-2000:]}")
    rss, seconds, cpu_main, cpu_workers = map(float, out.stdout.split()[-4:])
    return {"rss_mb": rss, "seconds": seconds, "cpu_main_s": cpu_main, "cpu_workers_s": cpu_workers}


def scaling(n_docs: int, tmp: Path) -> dict[str, float]:
    """The whole stage's documents per second with 1 and 2 processes (a fresh process each, same documents).

    On a loaded machine the wall-clock ratio says more about the other load than about the code, so the CPU
    seconds are kept too: with ``num_workers: 2`` the main process (reading, writing, grouping, MLflow) and the
    two workers (tokenising, MinHash) share 2 cores, so on 2 free cores the stage needs at least
    ``max(main, (main + workers) / 2)`` seconds: ``speedup_2proc_from_cpu`` is the 1-process CPU time over that."""
    one = stage_run(n_docs, 1, tmp)
    two = stage_run(n_docs, 2, tmp)
    bound = max(two["cpu_main_s"], (two["cpu_main_s"] + two["cpu_workers_s"]) / 2)
    return {
        "scaling_docs": n_docs,
        "docs_per_s_1proc": round(n_docs / one["seconds"], 1),
        "docs_per_s_2proc": round(n_docs / two["seconds"], 1),
        "speedup_2proc": round(one["seconds"] / two["seconds"], 2),
        "cpu_s_1proc": round(one["cpu_main_s"], 1),
        "cpu_s_main_2proc": round(two["cpu_main_s"], 1),
        "cpu_s_workers_2proc": round(two["cpu_workers_s"], 1),
        "speedup_2proc_from_cpu": round(one["cpu_main_s"] / bound, 2),
        "cores_available": len(os.sched_getaffinity(0)),
        "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
    }


def memory_at_scale(tmp: Path) -> dict[str, float]:
    """Peak RSS of the stage at 100k and 1M documents (one process)."""
    rss_100k, t_100k = stage_peak_rss(100_000, 1, tmp)
    rss_1m, t_1m = stage_peak_rss(1_000_000, 1, tmp)
    return {
        "peak_rss_mb_100k": round(rss_100k, 1),
        "peak_rss_mb_1m": round(rss_1m, 1),
        "rss_ratio_1m_vs_100k": round(rss_1m / rss_100k, 2),
        "stage_s_100k_1proc": round(t_100k, 1),
        "stage_s_1m_1proc": round(t_1m, 1),
    }


def text_and_stage(parts: set[str]) -> dict[str, float]:
    """The earlier figures: text throughput (cached vs naive) and the stage at 10k/100k documents."""
    figures: dict[str, float] = {}
    if "text" in parts:
        pp = PreprocessParams()  # the defaults: light stemmer, built-in stopwords
        docs = synthetic_docs(20000)
        cached = TextProcessor(pp)
        throughput(cached, docs[:500])  # warm the stem cache as a long run would
        docs_per_s = throughput(cached, docs)
        naive_docs_per_s = throughput(naive_processor(pp), docs[:5000])
        figures.update(
            words_per_doc=WORDS_PER_DOC,
            docs_per_s=round(docs_per_s),
            naive_docs_per_s=round(naive_docs_per_s),
            speedup_vs_naive=round(docs_per_s / naive_docs_per_s, 2),
        )
    if "stage" in parts:
        with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as tmp:
            rss_10k, t_10k = stage_peak_rss(10_000, 1, Path(tmp))
            rss_100k, t_100k = stage_peak_rss(100_000, 1, Path(tmp))
            rss_100k_w2, t_100k_w2 = stage_peak_rss(100_000, 2, Path(tmp))
        figures.update(
            peak_rss_mb_10k=round(rss_10k, 1),
            peak_rss_mb_100k=round(rss_100k, 1),
            stage_s_10k=round(t_10k, 1),
            stage_s_100k=round(t_100k, 1),
            stage_s_100k_2_workers=round(t_100k_w2, 1),
            peak_rss_mb_100k_2_workers=round(rss_100k_w2, 1),
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--parts", default="text,stage,scaling,memory", help="comma-separated subset")
    parser.add_argument("--scaling-docs", type=int, default=100_000, help="documents of the 1 vs 2 process runs")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    path = OUT_DIR / "preprocess.json"
    figures = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    figures.update(text_and_stage(parts))
    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as tmp:
        if "scaling" in parts:
            figures.update(scaling(args.scaling_docs, Path(tmp) / "scaling"))
            save("preprocess", figures)
        if "memory" in parts:
            figures.update(memory_at_scale(Path(tmp) / "memory"))
    path = save("preprocess", figures)
    table([(k, v) for k, v in figures.items()])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
