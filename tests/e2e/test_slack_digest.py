"""`/monitor digest` through the real `watchpost serve` and the fake Slack: a parent
message, one CSV per dataset uploaded into its thread with the three-step
files_upload_v2 flow, and CSV cells a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io

from tests.e2e.slack_bot import ServeProcess
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_requests import CHANNEL, SlackSender

DOMAIN = "evil-infra.com"


async def test_slack_digest_on_demand_posts_a_thread_of_csvs(
    bot: ServeProcess, slack: SlackSender, slack_api: FakeSlackApi, dns_server: FakeDnsServer
) -> None:
    dns_server.set(DOMAIN, "A", ["45.77.10.20"])
    dns_server.set(DOMAIN, "TXT", ['"v=spf1 -all"'])
    command = slack.slash_command(DOMAIN)
    await slack.send(command)
    key = command.response_key
    assert key is not None
    await slack_api.wait_for(
        lambda: [r for r in slack_api.responses_to(key) if "Baseline" in r.text], what="the baseline"
    )

    dns_server.set(DOMAIN, "A", ["45.77.10.20", "98.126.38.107"])
    dns_server.set(DOMAIN, "TXT", ['"v=spf1 -all"', '"=HYPERLINK(\\"http://evil.test\\",\\"x\\")"'])
    await slack_api.wait_for(
        lambda: [m for m in slack_api.posted(CHANNEL) if "98.126.38.107" in m.text], what="the alert"
    )

    digest = slack.slash_command("digest")
    await slack.send(digest)
    assert digest.response_key is not None
    confirmation = await slack_api.wait_for(
        lambda: [
            r for r in slack_api.responses_to(digest.response_key or "") if "Posted the digest" in r.text
        ],
        what="the confirmation",
    )
    assert "since" in confirmation[0].text
    parent = await slack_api.wait_for(
        lambda: [m for m in slack_api.posted(CHANNEL) if m.text.startswith("Watchpost digest")],
        what="the digest",
    )
    uploads = await slack_api.wait_for(
        lambda: [f for f in slack_api.files.values() if f.thread_ts == parent[0].ts and f.content] or None,
        what="the CSVs in the digest's thread",
    )
    assert all(f.channel == CHANNEL for f in uploads)
    assert len(uploads) == len([f for f in slack_api.files.values() if f.content])  # none elsewhere
    by_name = {f.filename: f for f in uploads}
    resolutions = next(f for name, f in by_name.items() if name.endswith("resolutions.csv"))
    rows = list(csv.DictReader(io.StringIO((resolutions.content or b"").decode("utf-8"))))
    assert [(r["indicator"], r["change"], r["field"], r["new value"]) for r in rows] == [
        (DOMAIN, "added", "A", "98.126.38.107")
    ]
    records = next(f for name, f in by_name.items() if name.endswith("dns_records.csv"))
    cells = [r["new value"] for r in csv.DictReader(io.StringIO((records.content or b"").decode("utf-8")))]
    assert cells == ['\'=HYPERLINK("http://evil.test","x")']  # neutralised: shown, never run
    # Last in the thread: a small chart of the week's changes per dataset.
    chart = await slack_api.wait_for(
        lambda: (
            [
                f
                for f in slack_api.files.values()
                if f.thread_ts == parent[0].ts and f.filename.endswith(".png")
            ]
            or None
        ),
        what="the week chart",
    )
    assert (chart[0].content or b"").startswith(b"\x89PNG\r\n\x1a\n") and chart[0].filename.endswith(
        "-week.png"
    )
