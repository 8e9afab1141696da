"""Requests as Slack sends them to the bot, signed: slash commands (form-encoded),
button clicks (`payload=<JSON>`), events (JSON). See the shared SLACK_FACTS.md.

`SlackConversation` is one user typing slash commands in one channel of a running bot:
`assert "Now monitoring" in (await alice.say("evil.com")).text` sends the signed command
and waits for the bot's first answer on the command's response_url (the fake Slack's).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, TEAM_ID, FakeSlackApi, ResponsePost, SlackMessage

SIGNING_SECRET = "e3b0c44298fc1c149afbf4c8996fb924"
API_APP_ID = "A0WATCHPOST"
VERIFICATION_TOKEN = "legacyverificationtoken"
ANALYST = "U0ANALYST"
CHANNEL = "C0INTEL"
CHANNEL_NAME = "threat-intel"


@dataclass
class SignedRequest:
    body: bytes
    headers: dict[str, str]
    response_key: str | None = None


@dataclass
class Reply:
    status: int
    body: str
    seconds: float


def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class SlackSender:
    """Builds and sends what Slack would send to `events_url`."""

    events_url: str
    response_root: str  # the fake's root: response_urls point at `{root}/response/{key}`
    secret: str = SIGNING_SECRET
    team_id: str = TEAM_ID
    sent: list[SignedRequest] = field(default_factory=list)

    def signed(self, body: bytes, content_type: str, *, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature(self.secret, stamp, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def slash_command(
        self,
        text: str,
        *,
        command: str = "/monitor",
        user_id: str = ANALYST,
        channel_id: str = CHANNEL,
        timestamp: int | None = None,
    ) -> SignedRequest:
        key = uuid.uuid4().hex[:12]
        form = self.command_fields(text, key, command=command, user_id=user_id, channel_id=channel_id)
        body = urlencode(form).encode()
        headers = self.signed(body, "application/x-www-form-urlencoded", timestamp=timestamp)
        return SignedRequest(body, headers, key)

    def command_fields(
        self,
        text: str,
        key: str,
        *,
        command: str = "/monitor",
        user_id: str = ANALYST,
        channel_id: str = CHANNEL,
    ) -> dict[str, str]:
        """Every field Slack sends with a slash command; the response_url ends in `key`."""
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": "watchpost-test",
            "enterprise_id": "",
            "enterprise_name": "",
            "channel_id": channel_id,
            "channel_name": CHANNEL_NAME,
            "user_id": user_id,
            "user_name": "analyst",
            "command": command,
            "text": text,
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": f"{self.response_root}/response/{key}",
            "trigger_id": f"1337.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
        }

    def button_click(
        self, message: SlackMessage, button: dict[str, Any], *, user_id: str = ANALYST
    ) -> SignedRequest:
        """A block_actions payload for a click on `button` of `message` (as posted)."""
        key = uuid.uuid4().hex[:12]
        shown: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "ts": message.ts,
            "bot_id": BOT_ID,
            "app_id": API_APP_ID,
            "text": message.text,
            "team": self.team_id,
            "blocks": message.blocks,
        }
        if message.thread_ts:
            shown["thread_ts"] = message.thread_ts
        block_id = next(
            (
                b.get("block_id", "")
                for b in message.blocks
                if b.get("type") == "actions" and button in b.get("elements", [])
            ),
            "",
        )
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": "analyst", "name": "analyst", "team_id": self.team_id},
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"1337.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
            "team": {"id": self.team_id, "domain": "watchpost-test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": message.channel, "name": CHANNEL_NAME},
            "message": shown,
            "state": {"values": {}},
            "response_url": f"{self.response_root}/response/{key}",
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button.get("value", ""),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return SignedRequest(body, self.signed(body, "application/x-www-form-urlencoded"), key)

    def view_submission(
        self, view: dict[str, Any], selected: dict[str, dict[str, str]], *, user_id: str = ANALYST
    ) -> SignedRequest:
        """A modal submitted: `selected` is block_id -> {action_id: the chosen option's value}."""
        values = {
            block_id: {
                action_id: {"type": "static_select", "selected_option": {"value": value}}
                for action_id, value in actions.items()
            }
            for block_id, actions in selected.items()
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "watchpost-test"},
            "user": {"id": user_id, "username": "analyst", "name": "analyst", "team_id": self.team_id},
            "api_app_id": API_APP_ID,
            "token": VERIFICATION_TOKEN,
            "trigger_id": f"1337.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:16]}",
            "view": {
                "id": "V0MODAL",
                "type": "modal",
                "callback_id": view.get("callback_id", ""),
                "private_metadata": view.get("private_metadata", ""),
                "blocks": view.get("blocks", []),
                "state": {"values": values},
            },
            "response_urls": [],
            "is_enterprise_install": False,
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return SignedRequest(body, self.signed(body, "application/x-www-form-urlencoded"))

    def app_home_opened(self, user_id: str = ANALYST) -> SignedRequest:
        event_ts = f"{time.time():.6f}"
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": API_APP_ID,
            "event": {
                "type": "app_home_opened",
                "user": user_id,
                "channel": "D0HOMECHAN",
                "tab": "home",
                "event_ts": event_ts,
            },
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        body = json.dumps(envelope).encode()
        return SignedRequest(body, self.signed(body, "application/json"))

    def url_verification(self, challenge: str) -> SignedRequest:
        """What Slack sends when a request URL is saved in Event Subscriptions."""
        body = json.dumps(
            {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        ).encode()
        return SignedRequest(body, self.signed(body, "application/json"))

    async def send(self, request: SignedRequest, *, headers: dict[str, str] | None = None) -> Reply:
        self.sent.append(request)
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.events_url, data=request.body, headers=headers or request.headers) as response,
        ):
            body = await response.text()
        return Reply(response.status, body, time.perf_counter() - started)


@dataclass(frozen=True)
class SlackConversation:
    """One user's slash commands in one channel, sent signed to the bot by `sender`; the
    answers are read from the fake Slack `slack` that the response_urls point at."""

    sender: SlackSender
    slack: FakeSlackApi
    user_id: str = ANALYST
    channel_id: str = CHANNEL

    async def send(self, text: str, *, command: str = "/monitor") -> SignedRequest:
        """Send the command; the bot must take it (HTTP 200). Its answers come later."""
        request = self.sender.slash_command(
            text, command=command, user_id=self.user_id, channel_id=self.channel_id
        )
        reply = await self.sender.send(request)
        assert reply.status == 200, (text, reply.status, reply.body[:200])
        return request

    async def say(self, text: str, *, command: str = "/monitor", timeout: float = 15.0) -> ResponsePost:
        """Send the command and return the bot's first answer to it."""
        request = await self.send(text, command=command)
        key = request.response_key or ""
        answers = await self.slack.wait_for(lambda: self.slack.responses_to(key), timeout=timeout, what=text)
        return answers[0]

    def by(self, user_id: str) -> SlackConversation:
        """Another user in the same channel."""
        return replace(self, user_id=user_id)
