"""The micro-batcher without a wait (``serve.max_wait_ms: 0``, the default): a batch is what queued while the
model ran the previous one; every request gets its own slice of the results, in order."""

from __future__ import annotations

import asyncio
import threading
import time

from pipeline.serving.batcher import MicroBatcher


def test_requests_queued_during_a_model_call_form_the_next_batch() -> None:
    calls: list[list[str]] = []
    first_started = threading.Event()

    def model(texts):
        calls.append(list(texts))
        first_started.set()
        time.sleep(0.2)  # a slow model call: the other requests arrive while it runs
        return [t.upper() for t in texts]

    async def scenario():
        batcher = MicroBatcher(model, max_batch=64, max_wait_s=0.0, on_batch=None)
        batcher.start()
        first = asyncio.create_task(batcher.submit(["a"]))
        while not first_started.is_set():
            await asyncio.sleep(0.005)
        rest = [asyncio.create_task(batcher.submit([f"b{i}", f"c{i}"])) for i in range(5)]
        answers = await asyncio.gather(first, *rest)
        await batcher.stop()
        return answers

    answers = asyncio.run(scenario())
    assert calls == [["a"], [t for i in range(5) for t in (f"b{i}", f"c{i}")]]
    assert answers == [["A"], *[[f"B{i}", f"C{i}"] for i in range(5)]]


def test_max_batch_splits_a_long_queue() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def model(texts):
        gate.wait(5)
        return list(texts)

    async def scenario():
        batcher = MicroBatcher(model, max_batch=4, max_wait_s=0.0, on_batch=sizes.append)
        batcher.start()
        tasks = [asyncio.create_task(batcher.submit([str(i)])) for i in range(10)]
        await asyncio.sleep(0.05)
        gate.set()
        answers = await asyncio.gather(*tasks)
        await batcher.stop()
        return answers

    answers = asyncio.run(scenario())
    assert answers == [[str(i)] for i in range(10)]
    assert sizes == [4, 4, 2]  # all ten were queued before the first call returned
