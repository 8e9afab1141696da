"""A Transport that records what the bot posts and uploads, for digest and delivery tests
that do not need Slack itself. Thread-safe: several bot "processes" (threads with their
own engines) may share one and race on it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bot.core.message import Message


@dataclass(frozen=True)
class Post:
    channel_id: str
    message: Message
    thread_ts: str | None
    ts: str


@dataclass(frozen=True)
class Upload:
    channel_id: str
    thread_ts: str | None
    filename: str
    content: bytes
    title: str


# Called before each call with ("post" | "upload" | "update", channel, thread_ts or ts);
# what it returns is raised.
Fault = Callable[[str, str, str | None], BaseException | None]


@dataclass(frozen=True)
class Update:
    channel_id: str
    ts: str
    message: Message


class RecordingTransport:
    def __init__(self) -> None:
        self.updates: list[Update] = []
        self.posts: list[Post] = []
        self.uploads: list[Upload] = []
        self.fault: Fault | None = None
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    async def post(self, channel_id: str, message: Message, *, thread_ts: str | None = None) -> str:
        self._maybe_fail("post", channel_id, thread_ts)
        with self._lock:
            ts = f"{1_800_000_000 + next(self._ts)}.000100"
            self.posts.append(Post(channel_id, message, thread_ts, ts))
        return ts

    async def update(self, channel_id: str, ts: str, message: Message) -> None:
        self._maybe_fail("update", channel_id, ts)
        with self._lock:
            self.updates.append(Update(channel_id, ts, message))

    def shown(self, channel_id: str, ts: str) -> Message:
        """The message as it reads now: the last edit, or as posted."""
        edits = [u.message for u in self.updates if u.channel_id == channel_id and u.ts == ts]
        if edits:
            return edits[-1]
        return next(p.message for p in self.posts if p.channel_id == channel_id and p.ts == ts)

    async def upload_file(
        self, channel_id: str, *, thread_ts: str | None, filename: str, content: bytes, title: str
    ) -> None:
        self._maybe_fail("upload", channel_id, thread_ts)
        with self._lock:
            self.uploads.append(Upload(channel_id, thread_ts, filename, content, title))

    def _maybe_fail(self, kind: str, channel_id: str, thread_ts: str | None) -> None:
        if self.fault is not None and (error := self.fault(kind, channel_id, thread_ts)) is not None:
            raise error

    def parents(self, channel_id: str | None = None) -> list[Post]:
        """Messages posted to a channel itself (not in a thread)."""
        return [
            p
            for p in self.posts
            if p.thread_ts is None and (channel_id is None or p.channel_id == channel_id)
        ]

    def thread(self, ts: str) -> tuple[list[Upload], list[Post]]:
        """What went into the thread of `ts`: files and replies."""
        return [u for u in self.uploads if u.thread_ts == ts], [p for p in self.posts if p.thread_ts == ts]


@pytest.fixture
def recording_transport() -> Iterator[RecordingTransport]:
    yield RecordingTransport()
