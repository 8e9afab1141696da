"""python-whois's parser, run where it can be stopped.

python-whois reads each registry with its own regular expressions, and some of them
backtrack: replies under 100 KB, hostile or merely unlucky, keep its .hk, .it, .jp, .mx,
.sa and .sk parsers busy for seconds to hours (`bench/whois_parse.py` measures it). A
thread running a regular expression cannot be stopped, so each parse runs in a child
process, and a child still busy at the deadline is killed; the caller then reads the
reply with the generic reader alone. Children are started on first use (never at
import), kept for the next parse, and one is started anew after a kill.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from whois import exceptions as whois_exceptions
from whois.parser import WhoisEntry

from bot.core.errors import SourceError

SOURCE = "whois"
# A real reply parses in milliseconds; a second is a hundred times that on a loaded machine.
DEADLINE = 1.0
# A child imports python-whois and dateutil before it answers: allow a slow machine that.
STARTUP_DEADLINE = 60.0
_READY = "ready"
_NOT_FOUND = "not found"
_ENTRY = "entry"
_ERROR = "error"


class LibraryParser:
    """python-whois's `WhoisEntry.load` in child processes, with a hard deadline per parse."""

    def __init__(self, deadline: float = DEADLINE) -> None:
        self.deadline = deadline
        self._idle: queue.SimpleQueue[_Child] = queue.SimpleQueue()
        self.killed = 0  # children killed at the deadline, for tests and the benchmark

    def load(self, domain: str, text: str) -> Mapping[str, object]:
        """python-whois's fields of `text`. Raises WhoisDomainNotFoundError when python-whois
        reads "no such domain", SourceError when it cannot read the reply in time or at all."""
        child = self._take()
        try:
            kind, value = child.parse(domain, text, self.deadline)
        except TimeoutError:
            child.stop()
            self.killed += 1
            raise SourceError(SOURCE, f"python-whois still parsing after {self.deadline:g}s") from None
        except (EOFError, OSError):
            child.stop()
            raise SourceError(SOURCE, "python-whois's parser process died") from None
        self._idle.put(child)
        if kind == _NOT_FOUND:
            raise whois_exceptions.WhoisDomainNotFoundError(domain)
        if kind == _ERROR:
            raise SourceError(SOURCE, str(value))
        entry: Mapping[str, object] = value
        return entry

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def _take(self) -> _Child:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return _Child()


_shared: LibraryParser | None = None
_shared_lock = threading.Lock()


def shared_parser() -> LibraryParser:
    """The process's parser, made on first use (parses run on several threads)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LibraryParser()
        return _shared


class _Child:
    """One child process (`python -m` this module) answering parse requests one at a time,
    pickled over its standard input and output. Not multiprocessing's spawn: that re-runs
    the caller's main script in the child."""

    def __init__(self) -> None:
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, this module, no input of anyone's
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        if not self._answers.poll(STARTUP_DEADLINE) or self._answers.recv() != _READY:
            self.stop()
            raise SourceError(SOURCE, "python-whois's parser process did not start")

    def parse(self, domain: str, text: str, deadline: float) -> tuple[str, Any]:
        self._requests.send((domain, text))
        if not self._answers.poll(deadline):
            raise TimeoutError
        kind, value = self._answers.recv()
        return str(kind), value

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()
        self._requests.close()
        self._answers.close()


def _serve(requests: Connection, answers: Connection) -> None:
    """The child's loop: parse what the parent sends until it closes the pipe."""
    answers.send(_READY)
    while True:
        try:
            domain, text = requests.recv()
        except (EOFError, OSError):
            return
        answers.send(_outcome(domain, text))


def _outcome(domain: str, text: str) -> tuple[str, object]:
    try:
        return _ENTRY, dict(load_entry(domain, text))
    except whois_exceptions.WhoisDomainNotFoundError:
        return _NOT_FOUND, None
    except SourceError as exc:
        return _ERROR, exc.message


def load_entry(domain: str, text: str) -> Mapping[str, object]:
    """`WhoisEntry.load`, in this process. A date python-whois cannot read costs that
    line only, not the whole reply."""
    for _ in range(5):
        try:
            entry: Mapping[str, object] = WhoisEntry.load(domain, text)
            return entry
        except whois_exceptions.WhoisDomainNotFoundError:
            raise
        except whois_exceptions.WhoisUnknownDateFormatError as exc:
            bad = str(exc).removeprefix("Unknown date format: ").strip()
            kept = [line for line in text.splitlines() if not bad or bad not in line]
            if len(kept) == len(text.splitlines()):
                break
            text = "\n".join(kept)
        except Exception as exc:  # a parser bug on untrusted text is this source's failure
            raise SourceError(SOURCE, f"unparseable reply ({exc.__class__.__name__})") from None
    raise SourceError(SOURCE, "unparseable dates in reply")


if __name__ == "__main__":
    # The pipe to the parent is fd 1; anything printed goes to stderr instead of into it.
    _answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    _serve(Connection(os.dup(0), writable=False), _answers)
