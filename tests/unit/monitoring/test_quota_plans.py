"""One reply, one quota plan: the plans a reply shows come from one count of the monitors,
not from a cached count beside a fresh one."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import timedelta
from typing import Any

from bot.config import QuotaLimit
from bot.monitoring.quota import QuotaGate, describe_budget


class CountedMonitors:
    """The quota store's monitor count, which the test moves."""

    def __init__(self) -> None:
        self.count = 1

    def monitored(self, kinds: Collection[str]) -> int:
        return self.count


class Direct:
    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)


async def test_quota_plans_of_one_reply_agree_on_the_monitors() -> None:
    monitors = CountedMonitors()
    gate = QuotaGate(
        monitors,  # type: ignore[arg-type]
        Direct(),  # type: ignore[arg-type]
        {"mnemonic": (QuotaLimit(1000, 86400.0),), "virustotal": (QuotaLimit(500, 86400.0),)},
        check_interval=timedelta(hours=1),
    )
    first = await gate.plan("mnemonic")  # cached for a minute, at 1 monitor
    assert first is not None and "for 1 monitor" in describe_budget(first)
    monitors.count = 5
    plans = await gate.plans(["mnemonic", "virustotal", "crtsh"])
    assert sorted(plans) == ["mnemonic", "virustotal"]  # crt.sh has no quota here
    assert all("for 5 monitors" in describe_budget(plan) for plan in plans.values())
    # And the next single look sees the same plan, not the older one.
    again = await gate.plan("mnemonic")
    assert again is not None and again.monitors == 5
