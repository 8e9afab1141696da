"""Every source failing every way, one fault per indicator and then all at once, against
the real `watchpost serve`: no false change, the outage shown as source health, recovery
without help, and changes made in between alerted exactly once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.core.observations import IndicatorKind
from tests.fakes.http_sources import FEB, MAR, _mnemonic_row
from tests.fakes.slack_requests import SlackSender
from tests.fakes.whois_server import Mode, registry_text
from tests.faults.figures import Figures
from tests.faults.harness import AlertLedger, World, channel_for, cof_line, crtsh_row, until, world

DOMAIN, IP = IndicatorKind.DOMAIN, IndicatorKind.IP
CONTROL = "control-wpf.com"
CONTROL_ADDRESS = "45.77.10.200"


@dataclass(frozen=True)
class Case:
    """One indicator, one fault. `source` is what source health must name (None: the fault
    is absorbed, e.g. a truncated UDP reply retried over TCP); `dataset` is where it shows."""

    indicator: str
    kind: IndicatorKind
    fault: str  # "dns:servfail", "http:mnemonic:500", "whois:hang"
    source: str | None
    dataset: str

    @property
    def channel(self) -> str:
        return channel_for(self.indicator)


def _cases() -> list[Case]:
    cases = [
        Case(f"dns-{mode}-wpf.com", DOMAIN, f"dns:{mode}", "dns", "dns_records")
        for mode in ("servfail", "refused", "timeout", "formerr", "garbage")
    ]
    cases += [
        Case(f"dns-{name}-wpf.com", DOMAIN, f"dns:{mode}", None, "dns_records")
        for name, mode in (("truncate", "truncate"), ("slow", "slow:0.2"))
    ]
    ips = iter(f"98.126.38.{n}" for n in range(101, 200))
    for route, kinds, dataset in (
        ("mnemonic", (DOMAIN, IP, DOMAIN, IP), "resolutions"),
        ("circl", (IP, DOMAIN, IP, DOMAIN), "resolutions"),
        ("crtsh", (DOMAIN,) * 4, "certificates"),
        ("internetdb", (IP,) * 4, "services"),
        ("rdap", (IP,) * 4, "whois"),
    ):
        for fault, kind in zip(("500", "429", "malformed", "hang"), kinds, strict=True):
            indicator = next(ips) if kind is IP else f"{route}-{fault}-wpf.com"
            cases.append(Case(indicator, kind, f"http:{route}:{fault}", route, dataset))
    cases += [
        Case(f"whois-{mode.value.replace('_', '-')}-wpf.com", DOMAIN, f"whois:{mode.value}", "whois", "whois")
        for mode in (Mode.CLOSE_EARLY, Mode.HANG, Mode.EMPTY)
    ]
    return cases


CASES = _cases()


def inject(w: World, case: Case) -> None:
    family, _, rest = case.fault.partition(":")
    if family == "dns":
        w.dns.set_fault(rest, name=case.indicator)
    elif family == "http":
        route, _, kind = rest.partition(":")
        w.http.inject(route, kind, only=case.indicator, retry_after="1")
    else:
        w.whois.modes[case.indicator] = Mode(rest)


def clear_all(w: World) -> None:
    w.dns.clear_faults()
    w.http.clear()
    w.whois.modes.clear()
    w.whois.mode = Mode.NORMAL


def change(w: World, case: Case, n: int) -> str:
    """A real change in the faulted source (now healthy again); returns what the alert shows."""
    source, indicator = case.source, case.indicator
    if source in ("dns", None):
        address = f"45.77.11.{n}"
        w.dns.set(indicator, "A", [domain_address(case), address])
        return address
    if source in ("mnemonic", "circl"):
        name, address = (f"pivot{n}-wpf.net", indicator) if case.kind is IP else (indicator, f"45.77.12.{n}")
        if source == "mnemonic":
            w.http.mnemonic_rows[indicator].append(_mnemonic_row(f"{name}.", address, "a", FEB, MAR))
        else:
            w.http.circl_lines[indicator].append(cof_line(name, "A", address))
        return name if case.kind is IP else address
    if source == "crtsh":
        w.http.crtsh_rows[indicator].append(
            crtsh_row(1000 + n, indicator, f"new{n}.{indicator}", f"ff{n:02x}")
        )
        return f"new{n}.{indicator}"
    if source == "internetdb":
        w.http.internetdb_hosts[indicator]["ports"].append(8443)
        return "8443"
    if source == "rdap":
        w.http.rdap_networks[indicator]["name"] = "MOVED-NET"
        return "MOVED-NET"
    w.whois.replies[indicator] = registry_text(indicator, registrar="Moved Registrar, Inc.")
    return "Moved Registrar"


def domain_address(case: Case) -> str:
    return f"45.77.10.{CASES.index(case) + 1}"


def source_failed_twice(w: World, case: Case, since: datetime) -> bool:
    assert case.source is not None
    return w.failures(case.indicator, case.source, since=since) >= 2


async def source_faults(tmp_path: Path, figures: Figures) -> None:
    """One fault per indicator at once, recovery, a change in each source, then all at once."""
    async with world(tmp_path) as w:
        for case in CASES:
            if case.kind is DOMAIN:
                w.add_domain(case.indicator, address=domain_address(case))
            else:
                w.add_ip(case.indicator, name=f"ptr-{case.indicator.replace('.', '-')}.wpf.net")
        w.add_domain(CONTROL, address=CONTROL_ADDRESS)
        w.seed_monitors()
        ledger = AlertLedger(w.slack, figures)
        bot = await w.start_bot()
        await until(w.all_healthy, timeout=30, what="every baseline")
        assert w.changes() == {}

        # One fault per indicator, all at the same time; a healthy source keeps alerting.
        started = datetime.now(UTC)
        queries = {c.indicator: w.dns.query_count(c.indicator, "A") for c in CASES}
        for case in CASES:
            inject(w, case)
            figures.fault(case.fault.rsplit(":", 1)[0] if case.fault.startswith("dns:slow") else case.fault)
        w.dns.set(CONTROL, "A", [CONTROL_ADDRESS, "45.77.13.1"])
        ledger.expect(channel_for(CONTROL), "45.77.13.1", "a DNS change while other sources fail")
        failing = [c for c in CASES if c.source is not None]
        absorbed = [c for c in CASES if c.source is None]
        await until(
            lambda: (
                all(source_failed_twice(w, c, started) for c in failing)
                and all(w.dns.query_count(c.indicator, "A") >= queries[c.indicator] + 2 for c in absorbed)
            ),
            timeout=30,
            what="two failed checks of every faulted source",
        )
        health = w.health()
        for case in failing:
            assert health[case.indicator][case.dataset][1], f"{case.fault}: {case.dataset} not stale"
        for case in absorbed:
            assert not health[case.indicator]["dns_records"][1], f"{case.fault} was not absorbed"
        # The analyst sees the outage: /monitor status names the failing source.
        mnemonic_500 = next(c for c in CASES if c.fault == "http:mnemonic:500")
        sender = SlackSender(bot.events_url, w.slack.root)
        status = sender.slash_command(f"status {mnemonic_500.indicator}", channel_id=mnemonic_500.channel)
        assert (await sender.send(status)).status == 200
        reply = await w.slack.wait_for(lambda: w.slack.responses_to(status.response_key or ""), what="status")
        # Its last failure: the 500, or the back-off another case's 429 put on the whole source
        # (Retry-After holds every Mnemonic lookup, this one's too, whichever came last).
        failure = re.search(r"stale \(mnemonic: (HTTP 500|rate limited)", reply[0].text)
        assert failure is not None, reply[0].text
        await ledger.delivered(timeout=15)
        assert set(w.changes()) == {CONTROL}, "a fault produced a change"

        # Faults cleared: every dataset fresh again, no change from the recovery itself.
        clear_all(w)
        await until(w.all_healthy, timeout=30, what=lambda: f"recovery; still unhealthy: {w.unhealthy()}")
        assert set(w.changes()) == {CONTROL}

        # The sources work again: a change in each faulted source is alerted, once.
        for n, case in enumerate(CASES, start=1):
            ledger.expect(case.channel, change(w, case, n), f"{case.fault}: a change after recovery")
        await ledger.delivered(timeout=30)

        # Everything failing at once, the control's new address unseen until it is over.
        started = datetime.now(UTC)
        together: list[tuple[str, Callable[[], None]]] = [
            ("dns:servfail", lambda: w.dns.set_fault("servfail")),
            ("http:mnemonic:500", lambda: w.http.inject("mnemonic", "500")),
            ("http:circl:malformed", lambda: w.http.inject("circl", "malformed")),
            ("http:crtsh:hang", lambda: w.http.inject("crtsh", "hang")),
            ("http:internetdb:429", lambda: w.http.inject("internetdb", "429", retry_after="1")),
            ("http:rdap:500", lambda: w.http.inject("rdap", "500")),
            ("whois:close_early", lambda: setattr(w.whois, "mode", Mode.CLOSE_EARLY)),
        ]
        for fault, start in together:
            start()
            figures.fault(fault)
        w.dns.set(CONTROL, "A", [CONTROL_ADDRESS, "45.77.13.1", "45.77.13.2"])
        await until(
            lambda: all(
                w.failures(i, "dns", since=started) >= 2 for i in w.monitors if w.monitors[i] is DOMAIN
            ),
            timeout=30,
            what="two failed checks of every domain",
        )
        stale = w.health()
        assert all(any(s for _, s, _ in states.values()) for states in stale.values())
        before = len(ledger.alerts())
        await asyncio.sleep(1)
        assert len(ledger.alerts()) == before, "an alert during the total outage"
        clear_all(w)
        ledger.expect(channel_for(CONTROL), "45.77.13.2", "a change made during the total outage")
        await until(
            w.all_healthy, timeout=30, what=lambda: f"recovery from the total outage: {w.unhealthy()}"
        )
        await ledger.delivered(timeout=15)
        await asyncio.sleep(1.5)  # a late duplicate or false alert would show by now
        ledger.settle()
