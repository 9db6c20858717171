"""Prometheus text-format metrics, written by hand (requests, latency histogram, micro-batch sizes)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Cumulative buckets, a sum and a count."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets, self.counts, self.sum, self.count = buckets, [0] * len(buckets), 0.0, 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.buckets, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, total = [], 0
        for bound, n in zip(self.buckets, self.counts, strict=True):
            total += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {total}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        out += [f"{name}_sum{{{labels}}} {self.sum:.6f}", f"{name}_count{{{labels}}} {self.count}"]
        return [line.replace("{}", "") for line in out]


class Metrics:
    """The server's counters; endpoint names come from the routes, never from the client."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batches = Histogram(BATCH_BUCKETS)

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(endpoint, status)] += 1
            self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, size: int) -> None:
        with self.lock:
            self.batches.observe(size)

    def render(self) -> str:
        with self.lock:
            out = ["# HELP serve_requests_total HTTP requests by endpoint and status.",
                   "# TYPE serve_requests_total counter"]  # fmt: skip
            for (endpoint, status), n in sorted(self.requests.items()):
                out.append(f'serve_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
            out += ["# HELP serve_request_seconds Request latency.", "# TYPE serve_request_seconds histogram"]
            for endpoint, hist in sorted(self.latency.items()):
                out += hist.lines("serve_request_seconds", f'endpoint="{endpoint}"')
            out += ["# HELP serve_batch_size Texts per model call (micro-batches).",
                    "# TYPE serve_batch_size histogram"]  # fmt: skip
            out += self.batches.lines("serve_batch_size", "")
        return "\n".join(out) + "\n"
