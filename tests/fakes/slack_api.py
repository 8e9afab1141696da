"""A faithful fake of the Slack Web API: a real aiohttp server on 127.0.0.1.

Routes (`base_url` is `{root}/api/`, what SLACK_API_URL points at):
  GET|POST /api/{method}    the Web API. `Authorization: Bearer <token>` (or a `token`
                            argument) is required; arguments are merged from the query
                            string, a form body and a JSON body, as Slack does.
  POST /upload/{file_id}    step 2 of files_upload_v2: the raw bytes, no auth; `OK - <n>`.
  POST /response/{key}      a response_url (`response_url(key)`): JSON text/blocks/...

Methods: auth.test, chat.postMessage, chat.update, chat.postEphemeral, views.publish, views.open,
files.getUploadURLExternal, files.completeUploadExternal, conversations.history, conversations.replies,
users.conversations; anything else answers `unknown_method`. Socket Mode:
apps.connections.open (with the app token) hands out `ws://…/socket-mode`, which says
`hello`; `socket_send(envelope)` pushes an envelope and `socket_acks` records the acks.

Every message (chat.*, response_url) and App Home view is checked against Block Kit's
limits (bot.core.limits) and for raw mass mentions or links (`<!channel>`, `<http…>`):
a message over the limits is refused with `invalid_blocks`, like Slack; either problem
is recorded in `violations`, which the `slack_api` fixture requires to be empty.

Faults: `inject(method, "429" | "500" | "slow", times=1, retry_after=1, delay=...)`;
`await down()` closes the port (connection refused) and `await up()` reopens it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest_asyncio
from aiohttp import WSMsgType, web

from bot.core.limits import MAX_BLOCKS_HOME, block_kit_violations
from bot.core.message import Message

BOT_TOKEN = "xoxb-1111-2222-fakebottoken"
APP_TOKEN = "xapp-1-A0WATCHPOST-3333-fakeapptoken"
TEAM_ID = "T0WATCH"
BOT_USER_ID = "U0WATCHBOT"
BOT_ID = "B0WATCHBOT"
MESSAGE_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
# What untrusted text must never turn into: a mass or group mention (`<!channel>`,
# `<!subteam^…>`) or a link (`<https://evil|click>`). The bot's own `<@U…>`/`<#C…>` are fine.
_UNSAFE = re.compile(r"<(?:!|https?:|mailto:)", re.IGNORECASE)

T = TypeVar("T")


def raw_controls(message: Message) -> list[str]:
    """Raw mass mentions or links (`<!channel>`, `<http…>`) in a message's text or blocks."""
    return list(_UNSAFE.findall(message.text + json.dumps(message.blocks)))


def slack_would_refuse(message: Message, *, max_blocks: int = 50) -> list[str]:
    """What the fake (like Slack) would refuse in a message, or record as unsafe; [] if nothing.
    The same checks the fake applies to every message it is sent, for builder tests."""
    problems = block_kit_violations(message, max_blocks=max_blocks)
    problems += [f"raw {found!r} (mention or link)" for found in raw_controls(message)]
    for thread_message in message.thread_messages:
        problems += [f"thread: {p}" for p in slack_would_refuse(thread_message, max_blocks=max_blocks)]
    return problems


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    updates: int = 0

    def all_text(self) -> str:
        """The fallback and every text of every block, for assertions."""
        return self.text + "\n" + json.dumps(self.blocks, ensure_ascii=False)

    def buttons(self) -> list[dict[str, Any]]:
        return [
            element
            for block in self.blocks
            if block.get("type") == "actions"
            for element in block.get("elements", [])
        ]


@dataclass
class ResponsePost:
    key: str
    payload: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        return str(self.payload.get("text", "")) + "\n" + json.dumps(self.payload.get("blocks", []))


@dataclass
class UploadedFile:
    file_id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None


@dataclass
class Fault:
    kind: str  # "429", "500", "slow"
    times: int | None  # None: until cleared
    retry_after: float = 1.0
    delay: float = 0.0


@dataclass
class FakeSlackApi:
    token: str = BOT_TOKEN
    app_token: str = APP_TOKEN
    calls: list[ApiCall] = field(default_factory=list)
    messages: list[SlackMessage] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    responses: list[ResponsePost] = field(default_factory=list)
    views: dict[str, dict[str, Any]] = field(default_factory=dict)
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    modals: list[dict[str, Any]] = field(default_factory=list)  # views.open
    files: dict[str, UploadedFile] = field(default_factory=dict)
    # Channels a user is in, for users.conversations.
    memberships: dict[str, list[str]] = field(default_factory=dict)
    # Errors chat.postMessage answers for a channel (e.g. "is_archived").
    channel_errors: dict[str, str] = field(default_factory=dict)
    # Errors a method answers whatever its arguments (e.g. "missing_scope").
    method_errors: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    root: str = ""
    port: int = 0
    _runner: web.AppRunner | None = None
    _last_ts: float = 0.0
    _ids: int = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/socket-mode", self._socket_mode)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        for socket in self.sockets:
            await socket.close()
        self.sockets.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def down(self) -> None:
        """Refuse connections (Slack unreachable) until `up()`."""
        await self.stop()

    async def up(self) -> None:
        await self.start()

    @property
    def base_url(self) -> str:
        return f"{self.root}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.root}/response/{key}"

    # -- test controls -----------------------------------------------------------------

    def inject(
        self, method: str, kind: str, *, times: int | None = 1, retry_after: float = 1.0, delay: float = 0.0
    ) -> None:
        if kind not in ("429", "500", "slow"):
            raise ValueError(f"unknown fault {kind!r}")
        self.faults[method] = Fault(kind, times, retry_after, delay)

    def clear(self) -> None:
        self.faults.clear()

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def posted(self, channel: str | None = None, *, thread_ts: str | None = None) -> list[SlackMessage]:
        """Messages posted with chat.postMessage: top-level ones, or the replies in a thread."""
        return [
            m for m in self.messages if (channel is None or m.channel == channel) and m.thread_ts == thread_ts
        ]

    def responses_to(self, key: str) -> list[ResponsePost]:
        return [r for r in self.responses if r.key == key]

    def transcript(self) -> list[str]:
        """What the bot sent, in order, one line each: posts (top-level or in a thread),
        edits and response_url replies, with their text and context lines."""
        events: list[tuple[float, str]] = []
        for call in self.calls:
            if call.method not in MESSAGE_METHODS:
                continue
            where = str(call.args.get("channel") or "")
            if call.method == "chat.postMessage":
                kind = f"post in thread {call.args['thread_ts']}" if call.args.get("thread_ts") else "post"
            elif call.method == "chat.update":
                kind = f"edit of {call.args.get('ts')}"
            else:
                kind = "ephemeral"
            events.append((call.at, f"{kind} to {where}: {_summary(call.args)}"))
        for response in self.responses:
            kind = str(response.payload.get("response_type") or "ephemeral")
            events.append((response.at, f"reply ({kind}): {_summary(response.payload)}"))
        return [line for _, line in sorted(events, key=lambda event: event[0])]

    async def wait_for(self, probe: Callable[[], T | None], *, timeout: float = 15.0, what: str = "") -> T:
        """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = probe()
            if found:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}")
            await asyncio.sleep(0.05)

    # -- serving -----------------------------------------------------------------------

    def _next_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids:08d}"

    async def _arguments(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    args.update(body)
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        # Form and query arguments carry JSON as strings.
        for name in ("blocks", "view", "files", "metadata"):
            if isinstance(args.get(name), str) and args[name]:
                try:
                    args[name] = json.loads(args[name])
                except ValueError:
                    pass
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await self._arguments(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.calls.append(ApiCall(method, args, headers, time.monotonic()))
        fault = self.faults.get(method)
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[method]
            if fault.kind == "429":
                return web.json_response(
                    {"ok": False, "error": "ratelimited"},
                    status=429,
                    headers={"Retry-After": f"{fault.retry_after:g}"},
                )
            if fault.kind == "500":
                return web.Response(
                    status=500,
                    text="<html><body>500 Internal Server Error</body></html>",
                    content_type="text/html",
                )
            await asyncio.sleep(fault.delay)
        authorization = headers.get("authorization", "")
        token = (
            authorization.removeprefix("Bearer ")
            if authorization.startswith("Bearer ")
            else args.get("token")
        )
        if not token:
            return _error("not_authed")
        if method == "apps.connections.open":
            if token != self.app_token:
                return _error("invalid_auth")
            return _ok(url=f"ws://127.0.0.1:{self.port}/socket-mode")
        if token != self.token:
            return _error("invalid_auth")
        if method in self.method_errors:
            return _error(self.method_errors[method])
        handler = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "users.conversations": self._users_conversations,
        }.get(method)
        if handler is None:
            return _error("unknown_method")
        return await handler(args)

    def _check_message(self, where: str, text: Any, blocks: Any, *, max_blocks: int = 50) -> list[str]:
        problems: list[str] = []
        if blocks is not None and not isinstance(blocks, list):
            problems.append("blocks is not a list")
            blocks = []
        message = Message(str(text or ""), list(blocks or []))
        problems.extend(block_kit_violations(message, max_blocks=max_blocks))
        for found in raw_controls(message):
            self.violations.append(f"{where}: raw {found!r} sent to Slack (mention or link)")
        for problem in problems:
            self.violations.append(f"{where}: {problem}")
        return problems

    async def _auth_test(self, args: dict[str, Any]) -> web.Response:
        return _ok(
            url="https://watchpost-test.slack.com/",
            team="Watchpost Test",
            user="watchpost",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    async def _post_message(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        if not channel:
            return _error("channel_not_found")
        if channel in self.channel_errors:
            return _error(self.channel_errors[channel])
        if not args.get("text") and not args.get("blocks"):
            return _error("no_text")
        problems = self._check_message(f"chat.postMessage to {channel}", args.get("text"), args.get("blocks"))
        if problems:
            return _error("invalid_blocks", errors=problems)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts is not None and not any(
            m.ts == thread_ts and m.channel == channel for m in self.messages
        ):
            self.violations.append(
                f"chat.postMessage to {channel}: thread_ts {thread_ts} is no message there"
            )
        message = SlackMessage(
            channel=channel,
            ts=self._next_ts(),
            text=str(args.get("text") or ""),
            blocks=list(args.get("blocks") or []),
            thread_ts=thread_ts,
            metadata=args.get("metadata") if isinstance(args.get("metadata"), dict) else None,
        )
        self.messages.append(message)
        shown = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": message.text,
            "ts": message.ts,
        }
        if message.blocks:
            shown["blocks"] = message.blocks
        if thread_ts:
            shown["thread_ts"] = thread_ts
        return _ok(channel=channel, ts=message.ts, message=shown)

    async def _update(self, args: dict[str, Any]) -> web.Response:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        found = next((m for m in self.messages if m.channel == channel and m.ts == ts), None)
        if found is None:
            return _error("message_not_found")
        problems = self._check_message(f"chat.update of {ts}", args.get("text"), args.get("blocks"))
        if problems:
            return _error("invalid_blocks", errors=problems)
        found.text = str(args.get("text") or found.text)
        if "blocks" in args:
            found.blocks = list(args.get("blocks") or [])
        found.updates += 1
        return _ok(channel=channel, ts=ts, text=found.text)

    async def _post_ephemeral(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        problems = self._check_message(
            f"chat.postEphemeral to {channel}", args.get("text"), args.get("blocks")
        )
        if problems:
            return _error("invalid_blocks", errors=problems)
        if not args.get("user"):
            return _error("user_not_in_channel")
        self.ephemerals.append(args)
        return _ok(message_ts=self._next_ts())

    async def _views_open(self, args: dict[str, Any]) -> web.Response:
        """A modal, opened in answer to a click (its trigger_id): recorded in `modals`."""
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not args.get("trigger_id"):
            return _error("invalid_trigger_id")
        if not isinstance(view, dict) or view.get("type") != "modal" or not view.get("title"):
            return _error("invalid_arguments")
        problems = self._check_message("views.open", "modal", view.get("blocks"), max_blocks=MAX_BLOCKS_HOME)
        if problems:
            return _error("invalid_blocks", errors=problems)
        self.modals.append(view)
        return _ok(view={**view, "id": self._next_id("V")})

    async def _views_publish(self, args: dict[str, Any]) -> web.Response:
        view = args.get("view")
        user = str(args.get("user_id") or "")
        if not isinstance(view, dict) or view.get("type") != "home" or not user:
            return _error("invalid_arguments")
        # Views have no fallback text: check the blocks with a stand-in for it.
        problems = self._check_message(
            f"views.publish for {user}", "(view)", view.get("blocks"), max_blocks=MAX_BLOCKS_HOME
        )
        if problems:
            return _error("invalid_blocks", errors=problems)
        self.views[user] = view
        self.published.append((user, view))
        return _ok(view={**view, "id": self._next_id("V")})

    async def _get_upload_url(self, args: dict[str, Any]) -> web.Response:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length", ""))
        except ValueError:
            return _error("invalid_arguments")
        if not filename:
            return _error("invalid_arguments")
        file_id = self._next_id("F")
        self.files[file_id] = UploadedFile(file_id, filename, length)
        return _ok(upload_url=f"{self.root}/upload/{file_id}", file_id=file_id)

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        upload = self.files.get(file_id)
        if upload is None:
            return web.Response(status=404, text="Not Found")
        if "authorization" in {k.lower() for k in request.headers}:
            self.violations.append(f"upload of {file_id} carried an Authorization header")
        if request.content_type.startswith("multipart/"):
            part = (await request.post()).get("file")
            data = part.file.read() if isinstance(part, web.FileField) else b""
        else:
            data = await request.read()  # slack_sdk sends the raw bytes
        if len(data) != upload.length:
            self.violations.append(f"upload of {file_id}: {len(data)} bytes, announced {upload.length}")
        upload.content = data
        return web.Response(status=200, text=f"OK - {len(data)}", content_type="text/plain")

    async def _complete_upload(self, args: dict[str, Any]) -> web.Response:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            return _error("invalid_arguments")
        done = []
        for item in items:
            upload = self.files.get(str(item.get("id")))
            if upload is None or upload.content is None:
                return _error("file_not_found")
            upload.title = str(item.get("title") or upload.filename)
            upload.channel = args.get("channel_id") or None
            upload.thread_ts = args.get("thread_ts") or None
            upload.initial_comment = args.get("initial_comment") or None
            done.append(
                {"id": upload.file_id, "name": upload.filename, "title": upload.title, "size": upload.length}
            )
        return _ok(files=done)

    async def _history(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        oldest = float(args.get("oldest") or 0)
        limit = int(args.get("limit") or 100)
        start = int(args.get("cursor") or 0)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        rows = [
            m for m in self.messages if m.channel == channel and m.thread_ts is None and float(m.ts) > oldest
        ]
        rows.sort(key=lambda m: float(m.ts), reverse=True)
        page = rows[start : start + limit]
        shown = []
        for m in page:
            item: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": m.text}
            item["ts"] = m.ts
            if with_metadata and m.metadata is not None:
                item["metadata"] = m.metadata
            shown.append(item)
        more = start + limit < len(rows)
        return _ok(
            messages=shown,
            has_more=more,
            response_metadata={"next_cursor": str(start + limit) if more else ""},
        )

    async def _replies(self, args: dict[str, Any]) -> web.Response:
        """A thread: its parent first, then the replies oldest first (as Slack pages them)."""
        channel = str(args.get("channel") or "")
        parent = str(args.get("ts") or "")
        oldest = float(args.get("oldest") or 0)
        limit = int(args.get("limit") or 100)
        start = int(args.get("cursor") or 0)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        thread = [
            m for m in self.messages if m.channel == channel and (m.ts == parent or m.thread_ts == parent)
        ]
        if not any(m.ts == parent for m in thread):
            return _error("thread_not_found")
        thread = [m for m in thread if m.ts == parent or float(m.ts) > oldest]
        thread.sort(key=lambda m: float(m.ts))
        page = thread[start : start + limit]
        shown = []
        for m in page:
            item: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": m.text}
            item["ts"] = m.ts
            item["thread_ts"] = parent
            if with_metadata and m.metadata is not None:
                item["metadata"] = m.metadata
            shown.append(item)
        more = start + limit < len(thread)
        return _ok(
            messages=shown,
            has_more=more,
            response_metadata={"next_cursor": str(start + limit) if more else ""},
        )

    async def _users_conversations(self, args: dict[str, Any]) -> web.Response:
        user = str(args.get("user") or "")
        channels = [{"id": c, "is_member": True} for c in self.memberships.get(user, [])]
        return _ok(channels=channels, response_metadata={"next_cursor": ""})

    async def _socket_mode(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        hello = {
            "type": "hello",
            "num_connections": len(self.sockets),
            "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": "A0WATCHPOST"},
        }
        await socket.send_json(hello)
        async for frame in socket:
            if frame.type is WSMsgType.TEXT:
                ack = json.loads(frame.data)
                self.socket_acks[str(ack.get("envelope_id"))] = ack
        return socket

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push a Socket Mode envelope to the newest connection."""
        await self.wait_for(lambda: self.sockets, what="a Socket Mode connection")
        await self.sockets[-1].send_json(envelope)

    async def _response(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            payload = await request.json()
        except ValueError:
            self.violations.append(f"response_url {key}: body is not JSON")
            return web.Response(status=400, text="invalid_payload")
        problems = self._check_message(f"response_url {key}", payload.get("text"), payload.get("blocks"))
        if problems:
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append(ResponsePost(key, payload, time.monotonic()))
        if len(self.responses_to(key)) > 5:
            self.violations.append(f"response_url {key} used more than 5 times")
        return web.Response(status=200, text="ok")


def _summary(args: dict[str, Any]) -> str:
    """A message's fallback text and its context lines, on one line."""
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    notes = [
        str(element.get("text") or "")
        for block in blocks or []
        if isinstance(block, dict) and block.get("type") == "context"
        for element in block.get("elements", [])
    ]
    buttons = [
        str(element.get("action_id"))
        for block in blocks or []
        if isinstance(block, dict) and block.get("type") == "actions"
        for element in block.get("elements", [])
    ]
    text = " ".join(str(args.get("text") or "").split())[:160]
    extra = "".join(f" | {' '.join(note.split())[:160]}" for note in notes if note)
    return text + extra + (f" [buttons: {', '.join(buttons)}]" if buttons else "")


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str, **fields: Any) -> web.Response:
    return web.json_response({"ok": False, "error": error, **fields})


@pytest_asyncio.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    """The fake Slack Web API for one test; the test fails if the bot sent any message
    over Block Kit's limits or with a raw mention or link in it."""
    api = FakeSlackApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
    assert api.violations == [], "messages Slack would refuse or that ping people:\n" + "\n".join(
        api.violations
    )


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0) -> T:
    """Await `probe` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s")
        await asyncio.sleep(0.05)
