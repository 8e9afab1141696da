"""The CT follower against the loopback CT server: both APIs, paging, positions in SQLite
and PostgreSQL, a failing log, bad signatures, bounded catch-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import pytest
import pytest_asyncio
from sqlalchemy import Engine

from bot.storage.db import Database
from bot.watches.ct.entries import CtEntry
from bot.watches.ct.follower import CtFollower
from bot.watches.ct.http import PerHostHttp, ct_http_client
from bot.watches.ct.log_list import parse_log_list
from bot.watches.ct.positions import MemoryPositions, PositionBook, StoredPositions
from bot.watches.ct.static_ct import StaticCtClient
from bot.watches.ct.store import CtPositionStore
from tests.fakes import der as fake_der
from tests.fakes.clock import FakeClock
from tests.fakes.ct_log import CertificateAuthority, CtLogServer


class Collected:
    """A sink that keeps every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[list[CtEntry]] = []

    async def __call__(self, entries: Sequence[CtEntry]) -> None:
        self.batches.append(list(entries))

    @property
    def entries(self) -> list[CtEntry]:
        return [entry for batch in self.batches for entry in batch]


@pytest.fixture(scope="module")
def authority() -> CertificateAuthority:
    return CertificateAuthority()


@pytest_asyncio.fixture
async def http(ct_logs: CtLogServer) -> AsyncIterator[PerHostHttp]:
    client = ct_http_client(ct_logs.list_url, timeout=5.0)
    yield client
    await client.close()


def follower(
    http: PerHostHttp, server: CtLogServer, positions: PositionBook | None = None, **options: int
) -> CtFollower:
    return CtFollower(
        http, positions or MemoryPositions(), log_list_url=server.list_url, clock=FakeClock(), **options
    )


async def test_follower_reads_certificates_and_precertificates_logged_after_it_starts(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    log = ct_logs.add_log("argon", authority=authority)
    log.add_certificate(authority.certificate_for(["old.example.com"]))  # history: never read
    reader, sink = follower(http, ct_logs), Collected()

    first = await reader.poll_once(sink)

    assert first.of(log.url).new and first.of(log.url).position == 1
    assert sink.entries == []
    issued = authority.precertificate_for(["WWW.InterfaxRU.com", "interfaxru.com", "*.interfaxru.com"])
    log.add_precertificate(issued, timestamp_ms=1_764_547_200_123)
    log.add_certificate(issued.certificate)

    second = await reader.poll_once(sink)

    assert second.of(log.url).entries_read == 2 and second.of(log.url).position == 3
    precert, cert = sink.entries
    assert precert.names == ("www.interfaxru.com", "interfaxru.com", "*.interfaxru.com")
    assert precert.precertificate and not cert.precertificate
    assert cert.names == precert.names
    assert (
        (precert.serial, precert.issuer)
        == (cert.serial, cert.issuer)
        == (
            f"{issued.serial:x}",
            "Loopback Trust Services",
        )
    )
    assert (precert.log, precert.index, cert.index) == (log.url, 1, 2)
    assert precert.logged_at.isoformat() == "2025-12-01T00:00:00.123000+00:00"
    assert (await reader.poll_once(sink)).entries_read == 0  # nothing new: nothing read


async def test_follower_reads_static_ct_tiles_full_and_partial(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    log = ct_logs.add_log("oak", api="static", authority=authority)
    for i in range(250):
        log.add_certificate(authority.certificate_for([f"h{i}.example.org"]))
    reader, sink = follower(http, ct_logs), Collected()
    assert (await reader.poll_once(sink)).of(log.url).position == 250
    for i in range(250, 300):  # tile 0 fills up; tile 1 is partial
        log.add_certificate(authority.certificate_for([f"h{i}.example.org"]))
    log.add_precertificate(authority.precertificate_for(["pre.example.org"]))

    report = await reader.poll_once(sink)

    assert report.of(log.url).entries_read == 51 and report.of(log.url).error == ""
    assert [e.index for e in sink.entries] == list(range(250, 301))
    assert sink.entries[0].names == ("h250.example.org",)
    assert sink.entries[-1].names == ("pre.example.org",) and sink.entries[-1].precertificate
    paths = [path for path, _, _ in ct_logs.requests if "/tile/data/" in path]
    assert paths == ["/oak/tile/data/000", "/oak/tile/data/001.p/45"]


async def test_static_partial_tile_gone_falls_back_to_the_full_tile(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    log = ct_logs.add_log("elm", api="static", authority=authority)
    for i in range(256):
        log.add_certificate(authority.certificate_for([f"n{i}.example.net"]))
    listed = parse_log_list(ct_logs.log_list(), ct_logs.list_url).logs[0]

    leaves, _ = await StaticCtClient(http).data_tile(listed, 0, 200)

    assert len(leaves) == 200 and leaves[-1].leaf_index == 199
    assert [status for path, status, _ in ct_logs.requests] == [404, 200]


async def test_follower_pages_when_the_log_caps_batches(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    log = ct_logs.add_log("capped", authority=authority)
    log.max_batch = 7
    reader, sink = follower(http, ct_logs, batch_size=20), Collected()
    await reader.poll_once(sink)
    for i in range(45):
        log.add_certificate(authority.certificate_for([f"p{i}.example.com"]))

    report = await reader.poll_once(sink)

    assert report.of(log.url).entries_read == 45
    assert [e.names[0] for e in sink.entries] == [f"p{i}.example.com" for i in range(45)]
    asked = [path for path, _, _ in ct_logs.requests if "get-entries" in path]
    assert len(asked) == 7  # 45 entries, 7 at a time
    assert asked[1].endswith("start=7&end=26")  # pages on from what it got, asking for a batch


@pytest.mark.postgres
async def test_restart_resumes_from_stored_positions(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority, migrated_engine: Engine
) -> None:
    rfc, tiles = ct_logs.add_log("argon", authority=authority), ct_logs.add_log("oak", api="static")
    database = Database(migrated_engine, threads=1)
    try:
        positions = StoredPositions(database, CtPositionStore(migrated_engine))
        await follower(http, ct_logs, positions).poll_once(Collected())
        # The bot is down while these are logged.
        for log in (rfc, tiles):
            log.add_certificate(authority.certificate_for([f"down.{log.name}.example.com"]))
            log.add_precertificate(authority.precertificate_for([f"pre.{log.name}.example.com"]))
        restarted, sink = (
            follower(http, ct_logs, StoredPositions(database, CtPositionStore(migrated_engine))),
            Collected(),
        )

        report = await restarted.poll_once(sink)
        again = await restarted.poll_once(sink)
    finally:
        database.close()

    assert sorted(e.names[0] for e in sink.entries) == [
        "down.argon.example.com",
        "down.oak.example.com",
        "pre.argon.example.com",
        "pre.oak.example.com",
    ]
    assert not report.failed and again.entries_read == 0
    stored = CtPositionStore(migrated_engine).positions()
    assert {k: (v.position, v.tree_size) for k, v in stored.items()} == {rfc.url: (2, 2), tiles.url: (2, 2)}


async def test_one_log_failing_never_stops_the_others(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    down, up = ct_logs.add_log("down", authority=authority), ct_logs.add_log("up", api="static")
    broken = ct_logs.add_log("broken")
    reader, sink = follower(http, ct_logs), Collected()
    await reader.poll_once(sink)
    for log in (down, up):
        log.add_certificate(authority.certificate_for([f"x.{log.name}.example.com"]))
    down.status = 503
    broken.status = 200  # 200 with a body that is not JSON

    report = await reader.poll_once(sink)

    assert [e.names for e in sink.entries] == [("x.up.example.com",)]
    assert report.of(down.url).error == "ct: HTTP 503" and report.of(down.url).position == 0
    assert "malformed JSON" in report.of(broken.url).error
    assert report.summary() == (
        f"CT: 3 logs, 1 entries read, 2 failed: {down.url} ct: HTTP 503; "
        f"{broken.url} ct: malformed JSON (JSONDecodeError)"
    )
    down.status = None
    assert (await reader.poll_once(sink)).of(down.url).entries_read == 1  # caught up


async def test_a_bad_signature_is_counted_and_the_log_not_believed(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    rfc = ct_logs.add_log("rsa", key="rsa", authority=authority)
    tiles = ct_logs.add_log("tiles", api="static", authority=authority)
    reader, sink = follower(http, ct_logs), Collected()
    await reader.poll_once(sink)
    for log in (rfc, tiles):
        log.add_certificate(authority.certificate_for([f"forged.{log.name}.example.com"]))
        log.bad_signature = True

    report = await reader.poll_once(sink)

    assert sink.entries == [] and report.signature_failures == 2
    assert report.of(rfc.url).error.startswith("signature:") and report.of(rfc.url).position == 0
    assert reader.signature_failures == {rfc.url: 1, tiles.url: 1}
    for log in (rfc, tiles):
        log.bad_signature = False
    assert (await reader.poll_once(sink)).entries_read == 2  # the RSA and the checkpoint keys verify


async def test_catch_up_is_bounded_and_says_what_it_skipped(
    ct_logs: CtLogServer,
    http: PerHostHttp,
    authority: CertificateAuthority,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = ct_logs.add_log("busy", authority=authority)
    reader, sink = follower(http, ct_logs, max_catch_up=5), Collected()
    await reader.poll_once(sink)
    for i in range(12):
        log.add_certificate(authority.certificate_for([f"b{i}.example.com"]))

    report = await reader.poll_once(sink)

    assert (report.of(log.url).skipped, report.of(log.url).entries_read) == (7, 5)
    assert [e.index for e in sink.entries] == [7, 8, 9, 10, 11]
    assert "skipped the oldest 7" in caplog.text


async def test_only_usable_logs_are_read_and_a_failed_list_keeps_the_last_one(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    live = ct_logs.add_log("live", authority=authority)
    retired = ct_logs.add_log("retired")
    retired.state = "retired"
    ct_logs.list_extra.append(
        {"name": "Elsewhere", "logs": [{"url": "http://10.0.0.1/ct/", "key": "", "state": {"usable": {}}}]}
    )
    reader = CtFollower(http, MemoryPositions(), log_list_url=ct_logs.list_url, list_refresh=0.0)

    report = await reader.poll_once(Collected())

    assert [item.log for item in report.logs] == [live.url]
    assert any("refused" in problem for problem in report.list_problems)
    ct_logs.list_status = 503
    live.add_certificate(authority.certificate_for(["after.example.com"]))
    sink = Collected()
    failed_list = await reader.poll_once(sink)
    assert failed_list.list_error == "ct: HTTP 503" and [e.names for e in sink.entries] == [
        ("after.example.com",)
    ]


async def test_a_large_reply_is_read_whole(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    # Hundreds of kilobytes in one get-entries reply arrive in many chunks.
    log = ct_logs.add_log("large", authority=authority)
    reader, sink = follower(http, ct_logs, batch_size=1000), Collected()
    await reader.poll_once(sink)
    names = [[f"n{i}-{j}.example.com" for j in range(8)] for i in range(400)]
    for batch in names:
        log.add_certificate(authority.certificate_for(batch))

    report = await reader.poll_once(sink)

    assert report.of(log.url).error == "" and report.of(log.url).entries_read == 400
    assert report.of(log.url).bytes_read > 500_000
    assert [list(e.names) for e in sink.entries] == names
    assert len([path for path, _, _ in ct_logs.requests if "get-entries" in path]) == 1


async def test_a_tree_that_shrinks_is_not_believed(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    log = ct_logs.add_log("shrinking", authority=authority)
    for i in range(3):
        log.add_certificate(authority.certificate_for([f"s{i}.example.com"]))
    reader, sink = follower(http, ct_logs), Collected()
    await reader.poll_once(sink)
    del log._entries[2:], log._hashes[2:]  # the log forgets an entry it had signed for

    report = await reader.poll_once(sink)

    assert report.of(log.url).error == "tree shrank from 3 to 2: not believed"
    assert report.of(log.url).position == 3 and sink.entries == []


async def test_a_rate_limited_log_holds_back_its_own_host_only(
    ct_logs: CtLogServer, authority: CertificateAuthority
) -> None:
    # Two servers: the 429's Retry-After keeps the client away from that host, not the other.
    limited, other_server = ct_logs.add_log("limited", authority=authority), CtLogServer()
    await other_server.start()
    try:
        fine = other_server.add_log("fine", authority=authority)
        ct_logs.list_extra.append({"name": "Other", "logs": [fine.list_entry()], "tiled_logs": []})
        http = ct_http_client(ct_logs.list_url, timeout=5.0)
        reader, sink = follower(http, ct_logs), Collected()
        await reader.poll_once(sink)
        limited.status = 429
        await reader.poll_once(sink)
        limited.status = None  # answers again, but the client waits out its Retry-After
        fine.add_certificate(authority.certificate_for(["fine.example.com"]))

        report = await reader.poll_once(sink)
        await http.close()
    finally:
        await other_server.stop()

    assert "rate limited" in report.of(limited.url).error
    assert report.of(fine.url).entries_read == 1 and [e.names for e in sink.entries] == [
        ("fine.example.com",)
    ]


@pytest.mark.parametrize("api", ["rfc6962", "static"])
async def test_unreadable_entries_are_passed_over_and_the_log_moves_on(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority, api: str
) -> None:
    """A version 4 certificate (and precertificate), one with a malformed extension beside
    its SAN, bytes that are no certificate at all, then a typosquat: every name that can be
    read is read, the one entry that cannot is counted and passed over, and the next poll
    starts after it."""
    log = ct_logs.add_log(f"faults-{api}", api=api, authority=authority)
    reader, sink = follower(http, ct_logs), Collected()
    await reader.poll_once(sink)
    precertificate = authority.precertificate_for(["pre-v4.example.org"])
    log.add_certificate(fake_der.version(authority.certificate_for(["v4.example.org"]), 3))
    log.add_precertificate(replace(precertificate, tbs=fake_der.version(precertificate.tbs, 3, tbs=True)))
    empty_constraints = fake_der.extension(*fake_der.EMPTY_NAME_CONSTRAINTS)
    log.add_certificate(
        fake_der.with_extension(authority.certificate_for(["beside.example.org"]), empty_constraints)
    )
    unreadable = log.add_certificate(b"\x30\x03\x02\x01\x01")  # a SEQUENCE holding one INTEGER
    log.add_certificate(authority.certificate_for(["paypa1-login.com"]))

    report = (await reader.poll_once(sink)).of(log.url)

    assert (report.error, report.position, report.entries_read) == ("", log.size, 5)
    assert report.unreadable == 1 and report.unreadable_last.startswith(f"entry {unreadable}: ")
    assert [entry.names for entry in sink.entries] == [
        ("v4.example.org",),
        ("pre-v4.example.org",),
        ("beside.example.org",),
        ("paypa1-login.com",),
    ]
    again = (await reader.poll_once(sink)).of(log.url)
    assert (again.entries_read, again.unreadable) == (0, 0) and len(sink.entries) == 4


async def test_an_entry_of_unknown_type_costs_itself_in_get_entries_and_the_rest_of_its_tile(
    ct_logs: CtLogServer, http: PerHostHttp, authority: CertificateAuthority
) -> None:
    """A leaf no reader can frame: get-entries sends each leaf apart, so only it is lost;
    a data tile is one run of bytes, so the entries after it in that tile are lost too (a
    tile never changes: reading it again would not help). Neither log stops there."""
    rfc, static = (
        ct_logs.add_log("rfc", authority=authority),
        ct_logs.add_log("tiles", api="static", authority=authority),
    )
    reader, sink = follower(http, ct_logs), Collected()
    await reader.poll_once(sink)
    for log in (rfc, static):
        log.add_certificate(authority.certificate_for(["before.example.org"]))
        log.add_unknown_entry_type(authority.certificate_for(["unknown.example.org"]))
        log.add_certificate(authority.certificate_for(["after.example.org"]))

    report = await reader.poll_once(sink)

    assert (report.of(rfc.url).error, report.of(rfc.url).unreadable, report.of(rfc.url).position) == (
        "",
        1,
        3,
    )
    assert (report.of(static.url).error, report.of(static.url).unreadable) == ("", 2)
    assert report.of(static.url).position == 3
    assert sorted(e.names[0] for e in sink.entries if e.log == rfc.url) == [
        "after.example.org",
        "before.example.org",
    ]
    assert [e.names for e in sink.entries if e.log == static.url] == [("before.example.org",)]
    static.add_certificate(authority.certificate_for(["next.example.org"]))
    again = (await reader.poll_once(sink)).of(static.url)
    # The log moves on; an entry that lands in the same tile after the fault shares its fate.
    assert (again.error, again.position, again.unreadable) == ("", 4, 1)
