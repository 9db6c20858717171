"""Micro-batching: concurrent requests' texts grouped into one model call (a short wait, a maximum batch).

Requests put ``(texts, future)`` on an asyncio queue; one worker takes the first, keeps taking for up to
``max_wait_s`` or until ``max_batch`` texts, runs the model once in a worker thread (the event loop stays free
for other requests) and hands each request its slice of the results.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

Fn = Callable[[Sequence[str]], list[Any]]


class MicroBatcher:
    """``await batcher.submit(texts)`` → ``fn(texts)``'s results, computed in batches with other requests."""

    def __init__(self, fn: Fn, max_batch: int, max_wait_s: float, on_batch: Callable[[int], None] | None = None):
        self.fn, self.max_batch, self.max_wait_s, self.on_batch = fn, max_batch, max_wait_s, on_batch
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def submit(self, texts: list[str]) -> list[Any]:
        if not texts:
            return []
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def _collect(self) -> list[tuple[list[str], asyncio.Future]]:
        batch = [await self.queue.get()]
        size = len(batch[0][0])
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            if self.queue.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    async with asyncio.timeout(left):  # no task per item, unlike asyncio.wait_for
                        item = await self.queue.get()
                except TimeoutError:
                    break
            else:
                item = self.queue.get_nowait()
            batch.append(item)
            size += len(item[0])
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            batch = [(texts, fut) for texts, fut in batch if not fut.done()]  # timed-out requests dropped
            if not batch:
                continue
            texts = [t for ts, _ in batch for t in ts]
            if self.on_batch is not None:
                self.on_batch(len(texts))
            try:
                results = await asyncio.to_thread(self.fn, texts)
            except Exception as err:  # the model failed: every waiting request gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            start = 0
            for ts, fut in batch:
                if not fut.done():
                    fut.set_result(results[start : start + len(ts)])
                start += len(ts)
