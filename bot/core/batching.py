"""Generic concurrency pieces the rooms share: one blocking call for many askers
(`BatchedCalls`), which of a batch's keys are new (`first_of_each`), and a grace period
before tasks are cancelled (`cancel_after`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Answer = TypeVar("Answer")


async def cancel_after(grace: float | None, tasks: list[asyncio.Task[None]]) -> int:
    """Give the tasks `grace` seconds (None: as long as they take), then cancel those still
    running; how many were."""
    if not tasks:
        return 0
    _, unfinished = await asyncio.wait(tasks, timeout=grace)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    return len(unfinished)


def first_of_each(keys: list[str], new: set[str]) -> list[bool]:
    """For each key, in order: whether it is among the `new` ones a statement just stored,
    and the first of its kind here (the same key twice in one batch: the second is a replay)."""
    unseen = set(new)
    answers = []
    for key in keys:
        answers.append(key in unseen)
        unseen.discard(key)
    return answers


class BatchedCalls(Generic[Item, Answer]):
    """One blocking function (a database statement) called for many items at once, on a
    thread of its own: what is asked while a call runs goes into the next call. The answer
    to Slack never queues behind a command's database work, and fifty requests that came
    in together cost one round trip, not fifty. `call` answers each item, in order."""

    def __init__(self, call: Callable[[list[Item]], list[Answer]], *, name: str) -> None:
        self._call = call
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"watchpost-{name}")
        self._pending: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._asking: asyncio.Task[None] | None = None

    async def ask(self, item: Item) -> Answer:
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((item, answer))
        if self._asking is None or self._asking.done():
            self._asking = asyncio.create_task(self._ask())
        return await answer

    async def _ask(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                answers = await loop.run_in_executor(self._executor, self._call, [item for item, _ in batch])
            except Exception as exc:  # the database is away: each asker decides what that means
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
