"""How long one WHOIS parse can take: every reply of tests/data/whois/ and a set of hostile
replies (each within the parser's caps) through `parse_whois`, the slowest of each.
`python -m bench.whois_parse`; prints the figures, then JSON on the last line.

A parse is timed in wall-clock time from the call to its return: python-whois runs in a
child process while the caller waits, so the wall time bounds the CPU time of both. The
child that starts on the first parse is started before the timing (its start-up is
printed apart): a long-running bot pays it once.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

from bot.core.errors import SourceError
from bot.monitoring.sources.whois import parse_whois
from bot.monitoring.sources.whois_library import LibraryParser
from tests.fakes.whois_corpus import load_cases

TARGET_SECONDS = 1.0


def hostile_replies() -> dict[str, tuple[str, str]]:
    """name -> (domain, reply): replies that made python-whois's parsers backtrack."""
    padded = "".join(f"[Note {i}]" + " " * 24 + "\n" for i in range(12))
    jprs = (
        "Domain Information:\n[Domain Name]                   KOMOREBI-SOBA.JP\n\n"
        "[Created on]                    2011/04/01\n[Status]                        Suspended\n\n"
        "Contact Information:\n" + padded
    )
    contact_block = "Contact Information:\n" + ("[x]" + " " * 28 + "\n") * 3000
    registrants = "Registrant\n" * 9000
    name_servers = "Name Servers:\n" + "a.b c d e f g h i j k l m n o p q r s t\n" * 2400
    return {
        ".jp contact block, 12 padded lines (python-whois: days)": ("komorebi-soba.jp", jprs),
        ".hk 3,000-line contact block": ("hostile.hk", contact_block),
        ".it 9,000 'Registrant' lines": ("hostile.it", registrants),
        ".sa 9,000 'Registrant' lines": ("hostile.sa", registrants),
        ".sk 9,000 'Registrant' lines": ("hostile.sk", registrants),
        ".mx 2,400-line name server block": ("hostile.mx", name_servers),
        ".com 20,000 blank lines": ("hostile.com", "\n" * 20_000),
        ".com 330 lines of 299 spaces": ("hostile.com", (" " * 299 + "\n") * 330),
        ".com 330 lines of 99 'a:' keys": ("hostile.com", ("a: " * 99 + "\n") * 330),
    }


def timed(parse: Callable[[], object]) -> float:
    started = time.perf_counter()
    try:
        parse()
    except SourceError:
        pass  # an unreadable or refused reply is an answer too
    return time.perf_counter() - started


def main() -> None:
    library = LibraryParser()
    startup = timed(lambda: parse_whois("warm-up.com", "Domain Name: warm-up.com\n", library=library))

    cases = load_cases()
    fixture_times = {
        case.name: timed(lambda c=case: parse_whois(c.domain, c.text, c.server, library=library))
        for case in cases
    }
    hostile_times = {
        name: timed(lambda d=domain, t=text: parse_whois(d, t, "whois.hostile.example", library=library))
        for name, (domain, text) in hostile_replies().items()
    }
    library.close()

    slowest_fixture = max(fixture_times, key=fixture_times.__getitem__)
    slowest_hostile = max(hostile_times, key=hostile_times.__getitem__)
    result = {
        "replies": len(fixture_times),
        "median_ms": round(statistics.median(fixture_times.values()) * 1000, 2),
        "slowest_s": round(fixture_times[slowest_fixture], 3),
        "slowest_reply": slowest_fixture,
        "hostile": len(hostile_times),
        "slowest_hostile_s": round(hostile_times[slowest_hostile], 3),
        "slowest_hostile_reply": slowest_hostile,
        "hostile_s": {name: round(seconds, 3) for name, seconds in hostile_times.items()},
        "deadline_s": library.deadline,
        "killed": library.killed,
        "startup_s": round(startup, 3),
        "target_s": TARGET_SECONDS,
    }
    print(
        f"WHOIS parse, {result['replies']} fixture replies: median {result['median_ms']} ms, slowest "
        f"{result['slowest_s']} s ({slowest_fixture}); target < {TARGET_SECONDS:g} s",
        file=sys.stderr,
    )
    for name, seconds in hostile_times.items():
        print(f"  hostile: {name}: {seconds:.3f} s", file=sys.stderr)
    print(
        f"slowest hostile reply {result['slowest_hostile_s']} s ({slowest_hostile}); python-whois children "
        f"killed at the {library.deadline:g} s deadline: {library.killed}; child start-up {startup:.2f} s",
        file=sys.stderr,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
