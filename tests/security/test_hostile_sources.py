"""Hostile sources: TXT records that mention @channel, a WHOIS server with a 100 KB
registrant, passive DNS that is not JSON, crt.sh names with newlines and wildcards,
InternetDB and RDAP fields full of mrkdwn and spreadsheet formulas. The real bot must
show all of it literally (no mention, no link, no formula), keep only bounded values,
and keep every secret it holds out of logs, messages, errors, the database and /metrics."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import aiohttp

from bot.core.observations import MAX_VALUE_CHARS
from bot.digests.build import FORMULA_STARTS
from tests.fakes.http_sources import MNEMONIC_KEY, VIRUSTOTAL_KEY
from tests.fakes.slack_api import FakeSlackApi, UploadedFile
from tests.fakes.slack_requests import SIGNING_SECRET, SlackSender
from tests.faults.figures import Figures
from tests.faults.harness import World, channel_for, until, world
from tests.security.corpus import HOSTILE, expand
from tests.security.test_slack_surface import responses, shown_safely

DOMAIN = "hostile-src.com"
IP = "98.126.39.10"
API_TOKEN = "api-token-secret-3f9a1c"
SMTP_PASSWORD = "smtp-password-secret-8d2e"
WEBHOOK_SECRET = "webhook-signing-secret-5b7c"
HOSTNAME = re.compile(
    r"(?:\*\.)?[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)


def txt_record(value: str) -> str:
    """A TXT value in zone-file form: 255-byte strings, quotes, backslashes and bytes
    outside printable ASCII escaped as \\DDD."""
    raw = value.encode()
    chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]

    def escaped(chunk: bytes) -> str:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\{b:03d}" for b in chunk)

    return " ".join(f'"{escaped(chunk)}"' for chunk in chunks)


def make_hostile(w: World, data: dict[str, Any]) -> int:
    """Swap every source's answers for the hostile ones; returns how many items that is."""
    w.dns.set(DOMAIN, "TXT", [txt_record(v) for v in data["txt"]])
    w.whois.replies[DOMAIN] = data["whois"].replace("{ORG}", data["whois_org"])
    lines: list[str] = []
    for line in data["circl_lines"]:
        if isinstance(line, str):
            lines.append(line)
        elif "json" in line:
            lines.append(json.dumps(line["json"]))
        else:
            lines.append(line["raw"])
    w.http.circl_lines[DOMAIN] = lines
    w.http.circl_lines[IP] = lines
    w.http.crtsh_rows[DOMAIN] = data["crtsh_rows"]
    w.http.internetdb_hosts[IP].update(data["internetdb"])
    network = w.http.rdap_networks[IP]
    rdap = data["rdap"]
    network.update(name=rdap["name"], handle=rdap["handle"], country=rdap["country"])
    network["entities"][1]["vcardArray"][1][1][3] = rdap["org"]
    return len(data["txt"]) + 1 + len(lines) + len(data["crtsh_rows"]) + len(data["internetdb"]) + len(rdap)


def leaks(secrets: list[str], where: str, text: str) -> list[str]:
    return [f"{where} holds {secret[:6]}…" for secret in secrets if secret in text]


async def test_hostile_source_data_is_shown_literally_stored_bounded_and_secrets_stay_secret(
    tmp_path: Path, figures: Figures
) -> None:
    data = expand(
        json.loads((HOSTILE / "sources.json").read_text()), domain=DOMAIN, DOMAIN=DOMAIN.upper(), ip=IP
    )
    async with world(tmp_path) as w:
        w.add_domain(DOMAIN, address="45.77.50.1")
        w.add_ip(IP, name="ptr.hostile-src.net")
        w.seed_monitors()
        secrets = [w.slack.token, SIGNING_SECRET, MNEMONIC_KEY, VIRUSTOTAL_KEY, API_TOKEN, SMTP_PASSWORD]
        secrets += [WEBHOOK_SECRET, "circl-pass-8b2d71aa"]
        bot = await w.start_bot(
            WATCHPOST_MNEMONIC_KEY=MNEMONIC_KEY,
            # Set, though VirusTotal is off (no URL): its 4-a-minute pacing would slow every check.
            WATCHPOST_VIRUSTOTAL_KEY=VIRUSTOTAL_KEY,
            WATCHPOST_API_TOKENS=f"soar={API_TOKEN}",
            WATCHPOST_SMTP_USER="watchpost",
            WATCHPOST_SMTP_PASSWORD=SMTP_PASSWORD,
            WATCHPOST_WEBHOOK_SECRET=WEBHOOK_SECRET,
            WATCHPOST_LOG_LEVEL="DEBUG",
        )
        await until(w.all_healthy, timeout=20, what=lambda: f"the baseline: {w.unhealthy()}")
        figures.tried("hostile source items", make_hostile(w, data))

        def changed() -> bool:
            found = {
                (i, d)
                for i, d in w.rows(
                    "SELECT s.indicator, c.dataset FROM changes c JOIN subjects s ON s.id = c.subject_id"
                )
            }
            wanted = {(DOMAIN, d) for d in ("dns_records", "whois", "certificates", "subdomains")}
            return wanted | {(IP, "services"), (IP, "whois"), (IP, "resolutions")} <= found

        await until(changed, timeout=30, what="the hostile changes")
        for indicator in (DOMAIN, IP):
            channel = channel_for(indicator)
            await w.slack.wait_for(
                lambda c=channel: w.slack.posted(c), timeout=20, what=f"an alert in {channel}"
            )

        slack = SlackSender(bot.events_url, w.slack.root)
        asked = []
        for text, indicator in (
            (f"status {DOMAIN}", DOMAIN),
            (f"status {IP}", IP),
            (f"history {DOMAIN}", DOMAIN),
            (f"history {IP}", IP),
            ("digest", DOMAIN),
        ):
            request = slack.slash_command(text, channel_id=channel_for(indicator))
            assert (await slack.send(request)).status == 200
            asked.append(request)
        await until(lambda: all(responses(w.slack, r) for r in asked), timeout=20, what="the replies")
        for request in asked:
            for reply in responses(w.slack, request):
                assert not shown_safely(reply), shown_safely(reply)
        # An analyst pivots from the alert: the investigation shows the same data, as safely.
        alert = w.slack.posted(channel_for(DOMAIN))[0]
        pivots = [b for b in alert.buttons() if b["action_id"].startswith("investigate")]
        if pivots:
            await slack.send(slack.button_click(alert, pivots[0]))
            await w.slack.wait_for(
                lambda: w.slack.posted(alert.channel, thread_ts=alert.ts), what="the investigation"
            )

        # The digest's CSV files: no cell a spreadsheet would run as a formula.
        def uploaded() -> list[UploadedFile]:
            # The thread also ends with the week's chart (a PNG): only the CSVs are read here.
            done = [
                f for f in w.slack.files.values() if f.channel is not None and f.filename.endswith(".csv")
            ]
            return done if len(done) >= 4 else []  # a CSV per changed dataset of the domain

        files = await w.slack.wait_for(uploaded, what="the digest's CSV files")
        cells: list[str] = []
        for upload in files:
            assert upload.content is not None
            cells += [c for row in csv.reader(io.StringIO(upload.content.decode(), newline="")) for c in row]
        assert [c for c in cells if c.startswith(FORMULA_STARTS)] == []
        neutralised = [c for c in cells if c.startswith("'") and c[1:].startswith(FORMULA_STARTS)]
        assert len(neutralised) >= 5, neutralised  # shown, as text

        # Stored: values bounded; subdomains and certificate names only ever host names.
        longest = w.rows(
            "SELECT max(length(value)) FROM facts UNION ALL "
            "SELECT max(max(length(coalesce(old_value, ''))), max(length(coalesce(new_value, ''))))"
            " FROM changes"
        )
        assert all(n is not None and n <= MAX_VALUE_CHARS for (n,) in longest), longest
        names = w.rows("SELECT value FROM facts WHERE field IN ('subdomain', 'tls_san')")
        assert names and all(HOSTNAME.fullmatch(value) for (value,) in names), names

        # Secrets: nowhere a person or another program could read them.
        found: list[str] = []
        async with aiohttp.ClientSession() as session:
            for path, headers in (
                ("/metrics", {}),
                ("/healthz", {}),
                ("/api/v1/monitors", {"Authorization": "Bearer wrong-token"}),
                ("/api/v1/monitors", {"Authorization": f"Bearer {API_TOKEN}"}),
                ("/api/v1/alerts", {"Authorization": f"Bearer {API_TOKEN}"}),
            ):
                async with session.get(f"{bot.url}{path}", headers=headers) as response:
                    found += leaks(secrets, path, await response.text())
        found += leaks(secrets, "the log", bot.log())
        found += leaks(secrets, "Slack", slack_text(w.slack))
        for table in (
            "facts",
            "changes",
            "outbox",
            "source_failures",
            "dataset_states",
            "monitors",
            "subjects",
        ):
            found += leaks(
                secrets,
                f"table {table}",
                json.dumps([list(map(str, r)) for r in w.rows(f"SELECT * FROM {table}")]),
            )
        assert found == []
        assert "Traceback" not in bot.log()
        async with aiohttp.ClientSession() as session, session.get(f"{bot.url}/healthz") as response:
            assert response.status == 200


def slack_text(slack: FakeSlackApi) -> str:
    """Everything the bot sent to Slack, but the Authorization header it must send."""
    parts = [json.dumps(call.args, default=str) for call in slack.calls]
    parts += [json.dumps(r.payload) for r in slack.responses]
    parts += [json.dumps(v) for v in slack.views.values()]
    parts += [(f.content or b"").decode(errors="replace") for f in slack.files.values()]
    return "\n".join(parts)
