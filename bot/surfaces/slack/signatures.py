"""Slack request signatures, checked on the raw bytes before Bolt sees a request.

Bolt verifies signatures too, but answers a malformed timestamp or a body that is not
UTF-8 with a 500 and a logged traceback, and accepts the same signed request again and
again for five minutes. Here every request to /slack/events must carry a fresh (±5 min)
`X-Slack-Request-Timestamp` and a matching `X-Slack-Signature` (compared in constant
time), and a signature is accepted once: a replay inside the five minutes is refused too.
The replay memory lives in the process, so with several processes behind one load
balancer a replay could still reach another one within those five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from enum import Enum

WINDOW_SECONDS = 300
_MAX_TIMESTAMP_CHARS = 12


class Verdict(Enum):
    VALID = "valid"
    INVALID = "invalid"  # missing, altered, or stale: 401
    REPLAYED = "replayed"  # a valid request seen before


class SlackSignatureVerifier:
    def __init__(self, signing_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = signing_secret.encode()
        self._clock = clock
        self._seen: OrderedDict[str, int] = OrderedDict()  # signature -> its timestamp

    def verify(self, body: bytes, headers: Mapping[str, str]) -> Verdict:
        stamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not self._secret or not stamp.isascii() or not stamp.isdigit():
            return Verdict.INVALID
        if len(stamp) > _MAX_TIMESTAMP_CHARS or not signature.isascii():
            return Verdict.INVALID
        now = self._clock()
        timestamp = int(stamp)
        if abs(now - timestamp) > WINDOW_SECONDS:
            return Verdict.INVALID
        expected = (
            "v0=" + hmac.new(self._secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return Verdict.INVALID
        self._forget_older_than(now - WINDOW_SECONDS)
        if signature in self._seen:
            return Verdict.REPLAYED
        self._seen[signature] = timestamp
        return Verdict.VALID

    def _forget_older_than(self, cutoff: float) -> None:
        # Insertion order is close to timestamp order; a late stale entry is dropped on a later pass.
        while self._seen and next(iter(self._seen.values())) < cutoff:
            self._seen.popitem(last=False)
