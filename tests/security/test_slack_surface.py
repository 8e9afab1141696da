"""Nobody let in, bad input refused: the real `watchpost serve` against forged Slack
requests, the hostile command and API corpus, and users acting on monitors that are not
theirs, past their channel's quota or their rate limit."""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.slack_api import FakeSlackApi, ResponsePost, SlackMessage
from tests.fakes.slack_requests import SignedRequest, SlackConversation, SlackSender, signature
from tests.faults.figures import Figures
from tests.faults.harness import World, until, world
from tests.security.corpus import api_body, command_text, lines

API_TOKEN = "hostile-api-token-7c1f0e"


def responses(slack: FakeSlackApi, request: SignedRequest) -> list[ResponsePost]:
    return slack.responses_to(request.response_key or "")


def is_error(reply: ResponsePost) -> bool:
    blocks = reply.payload.get("blocks") or []
    return bool(blocks) and str(blocks[0].get("text", {}).get("text", "")).startswith(":warning:")


def shown_safely(reply: ResponsePost) -> list[str]:
    """What is wrong with a reply beyond what the fake Slack checks (limits, raw mentions):
    control and invisible formatting characters must arrive escaped, never raw."""
    text = reply.text
    bad = sorted({c for c in text if unicodedata.category(c) in ("Cc", "Cf") and c not in "\n"})
    return [f"raw {unicodedata.name(c, hex(ord(c)))}" for c in bad]


def monitors(w: World) -> set[tuple[str, str]]:
    return {
        (channel, indicator)
        for channel, indicator in w.rows(
            "SELECT m.channel_id, s.indicator FROM monitors m JOIN subjects s ON s.id = m.subject_id"
        )
    }


async def test_forged_stale_and_replayed_slack_requests_get_401_and_do_nothing(
    tmp_path: Path, figures: Figures
) -> None:
    async with world(tmp_path) as w:
        bot = await w.start_bot()
        slack = SlackSender(bot.events_url, w.slack.root)
        now = int(time.time())
        good = slack.slash_command("98.126.38.7")
        body = good.body
        form = "application/x-www-form-urlencoded"

        def headers(stamp: str, sig: str) -> dict[str, str]:
            return {"Content-Type": form, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig}

        forged: dict[str, tuple[bytes, dict[str, str]]] = {
            "no headers": (body, {"Content-Type": form}),
            "no signature": (body, {"Content-Type": form, "X-Slack-Request-Timestamp": str(now)}),
            "no timestamp": (
                body,
                {"Content-Type": form, "X-Slack-Signature": signature("x", str(now), body)},
            ),
            "tampered body": (body.replace(b"98.126.38.7", b"98.126.38.8"), good.headers),
            "wrong secret": (body, headers(str(now), signature("not-the-secret", str(now), body))),
            "6 minutes old": (body, slack.signed(body, form, timestamp=now - 360)),
            "6 minutes ahead": (body, slack.signed(body, form, timestamp=now + 360)),
            "timestamp not a number": (body, headers("abc", signature(slack.secret, "abc", body))),
            "timestamp in exponent form": (body, headers("1e9", signature(slack.secret, "1e9", body))),
            "timestamp far too long": (body, headers("9" * 40, signature(slack.secret, "9" * 40, body))),
            "signature of another body": (body, headers(str(now), signature(slack.secret, str(now), b"x"))),
            "signature truncated": (body, headers(str(now), good.headers["X-Slack-Signature"][:-2])),
            "signature not ASCII": (body, headers(str(now), "v0=ü" + "0" * 63)),
            "body not UTF-8": (b"text=\xff\xfe&command=/monitor", headers(str(now), "v0=" + "0" * 64)),
            "unsigned ssl_check": (
                b"ssl_check=1&token=x&command=/monitor&text=98.126.38.7",
                {"Content-Type": form},
            ),
            "unsigned url_verification": (
                b'{"type":"url_verification","challenge":"c"}',
                {"Content-Type": "application/json"},
            ),
        }
        for what, (data, sent_headers) in forged.items():
            reply = await slack.send(SignedRequest(data, sent_headers))
            assert reply.status == 401, (what, reply.status, reply.body)
        figures.tried("forged Slack requests", len(forged))

        # Signed and fresh: served once. The same request again within the five minutes
        # is a replay: refused (or, as Slack's own retry, acknowledged and not run again).
        assert (await slack.send(good)).status == 200
        await w.slack.wait_for(lambda: responses(w.slack, good), what="the reply")
        assert (await slack.send(good)).status == 401
        retry = {**good.headers, "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        assert (await slack.send(good, headers=retry)).status == 200
        figures.tried("forged Slack requests", 2)
        # The baseline comes from the worker process: wait for it, then for anything more.
        await w.slack.wait_for(lambda: len(responses(w.slack, good)) >= 2, what="the baseline")
        await asyncio.sleep(1.0)  # time for any (wrongly) started work to show
        assert len(responses(w.slack, good)) == 2  # "Now monitoring", then the baseline: once
        assert monitors(w) == {("C0INTEL", "98.126.38.7")}
        assert w.slack.messages == [] and w.slack.views == {}
        assert "Traceback" not in bot.log()


async def test_hostile_commands_and_api_bodies_get_clear_errors_and_store_nothing(
    tmp_path: Path, figures: Figures
) -> None:
    corpus = lines("commands.jsonl")
    bodies = lines("api_bodies.jsonl")
    async with world(tmp_path) as w:
        bot = await w.start_bot(
            WATCHPOST_API_TOKENS=f"hostile={API_TOKEN}", WATCHPOST_API_RATE_LIMIT="100000"
        )
        slack = SlackSender(bot.events_url, w.slack.root)
        # Each entry from its own user in its own channel: what one does cannot excuse another.
        sent: list[tuple[dict[str, Any], SignedRequest, str]] = []
        for n, entry in enumerate(corpus):
            channel = f"C0H{n:04d}"
            request = slack.slash_command(command_text(entry), user_id=f"U0H{n:04d}", channel_id=channel)
            reply = await slack.send(request)
            assert reply.status == 200, (entry, reply.status, reply.body[:200])
            assert reply.seconds < 3, entry
            sent.append((entry, request, channel))
        figures.tried("slash commands", len(corpus))
        await until(
            lambda: all(responses(w.slack, request) for _, request, _ in sent),
            timeout=30,
            what=lambda: f"replies to {[e for e, r, _ in sent if not responses(w.slack, r)][:3]}",
        )
        expected: set[tuple[str, str]] = set()
        for entry, request, channel in sent:
            first = responses(w.slack, request)[0]
            assert first.payload.get("response_type") == "ephemeral", entry
            assert not shown_safely(first), (entry, shown_safely(first))
            if entry["expect"] == "refused":
                assert is_error(first), (entry, first.text[:300])
            elif entry["expect"] == "accepted":
                assert "Now monitoring" in first.text, (entry, first.text[:300])
                expected.update((channel, value) for value in entry["stores"])
            else:
                assert not is_error(first), entry
        await asyncio.sleep(0.5)
        assert monitors(w) == expected

        # The REST API: every hostile body a 4xx JSON error, nothing stored, nothing crashed.
        async with aiohttp.ClientSession() as session:
            for entry in bodies:
                async with session.post(
                    f"{bot.url}/api/v1/monitors",
                    data=api_body(entry),
                    headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
                ) as response:
                    text = await response.text()
                    assert 400 <= response.status < 500, (
                        entry.get("why") or entry,
                        response.status,
                        text[:300],
                    )
                    error = json.loads(text)["error"]
                    assert error["code"] and error["message"], entry
        figures.tried("API bodies", len(bodies))
        assert monitors(w) == expected
        assert "Traceback" not in bot.log()


async def test_only_the_creator_or_an_admin_changes_a_monitor_within_quota_and_rate(
    tmp_path: Path, figures: Figures
) -> None:
    async with world(tmp_path) as w:
        bot = await w.start_bot(
            WATCHPOST_ADMINS="U0ADMIN", WATCHPOST_CHANNEL_QUOTA="3", WATCHPOST_COMMAND_RATE="5"
        )
        slack = SlackSender(bot.events_url, w.slack.root)
        channel = SlackConversation(slack, w.slack, channel_id="C0PERM")
        alice, bob, admin, carol = (channel.by(u) for u in ("U0ALICE", "U0BOB", "U0ADMIN", "U0CAROL"))

        assert "Now monitoring" in (await alice.say("alice-owned.com")).text
        # Bob did not add it: he may not remove, unmonitor, mute or unmute it.
        for text, command in (
            ("remove alice-owned.com", "/monitor"),
            ("alice-owned.com", "/unmonitor"),
            ("mute alice-owned.com whois", "/monitor"),
        ):
            reply = await bob.say(text, command=command)
            assert is_error(reply) and "<@U0ALICE>" in reply.text and "admin" in reply.text, reply.text
            assert "Nothing was changed" in reply.text
        # Nor with the alert's Mute button.
        alert = SlackMessage("C0PERM", "1700000000.000100", "alert", [])
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Mute whois"},
            "action_id": "mute_dataset_0",
            "value": json.dumps({"i": "alice-owned.com", "d": "whois"}),
        }
        click = slack.button_click(alert, button, user_id="U0BOB")
        assert (await slack.send(click)).status == 200
        clicked = await w.slack.wait_for(lambda: responses(w.slack, click), what="the click's answer")
        assert is_error(clicked[0]) and "<@U0ALICE>" in clicked[0].text
        assert monitors(w) == {("C0PERM", "alice-owned.com")}
        mutes = "SELECT dataset, created_by FROM suppressions WHERE kind = 'mute' AND lifted_at IS NULL"
        assert w.rows(mutes) == []
        # An admin may; so may Alice.
        muted = await admin.say("mute alice-owned.com whois")
        assert "<@U0ADMIN> muted `whois` alerts for `alice-owned.com` in this channel." in muted.text
        assert [tuple(row) for row in w.rows(mutes)] == [("whois", "U0ADMIN")]
        unmuted = await alice.say("unmute alice-owned.com whois")
        assert "<@U0ALICE> unmuted `whois` alerts for `alice-owned.com` in this channel." in unmuted.text
        assert w.rows(mutes) == []

        # The channel's quota is 3: a bulk add that would pass it is refused whole.
        assert "Now monitoring" in (await alice.say("quota-one.com")).text
        refused = await alice.say("quota-two.com quota-three.com")
        assert is_error(refused) and "at most 3" in refused.text and "nothing was added" in refused.text
        assert "Now monitoring" in (await carol.say("quota-two.com")).text
        assert len(monitors(w)) == 3
        assert "Stopped monitoring" in (await alice.say("alice-owned.com", command="/unmonitor")).text

        # Five commands a minute per user: the sixth and seventh are refused, others go on.
        replies = [await channel.by("U0FAST").say("list") for _ in range(7)]
        assert [is_error(r) for r in replies] == [False] * 5 + [True] * 2
        assert "Slow down" in replies[-1].text
        assert not is_error(await carol.say("list"))
        figures.tried("permission, quota and rate-limit requests", len(slack.sent))
        assert "Traceback" not in bot.log()
