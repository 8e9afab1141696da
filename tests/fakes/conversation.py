"""A conversation with the /monitor use cases as one user in one channel, for tests that
read like a chat (errbot's test backend): `assert "Now monitoring" in await alice.say("evil.com")`.

`say` runs a command the way Slack and the console show it: the reply at once, then the
messages of its follow-up (the baselines after an add, a digest's confirmation), each one
required to be within Block Kit's limits. It returns the text a person reads
(`bot.core.text.render_text`), one message after the other. `ask` returns the same as an
`Answer` for the tests that also care whether the reply was said in the channel.

This drives `MonitorFlows` in-process; `tests.fakes.slack_requests.SlackConversation` is
the same idea against a running `watchpost serve` over signed Slack requests.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.commands.flows import MonitorFlows
from bot.core.limits import block_kit_violations
from bot.core.message import Message
from bot.core.results import Caller
from bot.core.text import render_text


@dataclass(frozen=True)
class Answer:
    """What the user saw after one command."""

    messages: list[Message]  # the reply, then the follow-up's messages
    public: bool  # said in the channel for everyone (who muted what), not only to the user

    @property
    def text(self) -> str:
        return "\n".join(render_text(message) for message in self.messages)

    @property
    def reply(self) -> Message:
        return self.messages[0]


@dataclass(frozen=True)
class Conversation:
    flows: MonitorFlows
    caller: Caller

    async def ask(self, text: str) -> Answer:
        result = await self.flows.execute(text, self.caller)
        messages = [result.reply]
        if result.follow_up is not None:
            messages += await result.follow_up()
        for message in messages:
            assert block_kit_violations(message) == [], (text, message.text)
        return Answer(messages, result.public)

    async def say(self, text: str) -> str:
        return (await self.ask(text)).text

    def by(self, user_id: str) -> Conversation:
        """Another user in the same channel."""
        return replace(self, caller=replace(self.caller, user_id=user_id))
