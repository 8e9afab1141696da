"""Alerts into TheHive 5: each delivery one TheHive alert (POST /api/v1/alert) of type
and source `watchpost` whose sourceRef is the delivery's idempotency key, with the alert's
changed values as observables.

TheHive keeps (type, source, sourceRef) unique per organisation and refuses a second
alert with the same three (HTTP 400, `CreateError`, "Alert …:…:… already exist in
organisation …"): that refusal means an earlier attempt arrived, so a repeat is harmless
and nothing needs looking up first.

aiohttp against the REST API rather than thehive4py: thehive4py 2.x is synchronous
(requests, a thread per call) and this is one POST; aiohttp keeps every receiver on one
HTTP policy (no redirects, no environment proxies: bot/alerts/delivery/receivers.py)."""

from __future__ import annotations

from typing import Any

from bot.alerts.delivery.receivers import ReceiverHttp, value_kind
from bot.alerts.store.receivers import THEHIVE, PendingDelivery

USER_AGENT = "Watchpost-TheHive/1"
ALERT_TYPE = "watchpost"
ALERT_SOURCE = "watchpost"
SEVERITY_MEDIUM = 2
TLP_AMBER = 2
PAP_AMBER = 2


def data_type(value: str) -> str:
    """TheHive's observable dataType of a value: ip, url, domain (two labels), fqdn, other."""
    kind = value_kind(value)
    if kind == "domain":
        return "domain" if value.rstrip(".").count(".") == 1 else "fqdn"
    return kind


def observables(delivery: PendingDelivery) -> list[dict[str, Any]]:
    """The monitored value, then each value the alert saw appear or go, once each (TheHive
    refuses an alert holding two observables of one value)."""
    alert = delivery.alert
    found = [
        {
            "dataType": data_type(alert.indicator),
            "data": alert.indicator,
            "message": "the value Watchpost monitors",
            "tags": ["watchpost:monitored"],
            "ioc": False,
        }
    ]
    seen = {alert.indicator}
    for change in alert.changes:
        value = change.value
        if not value or value in seen:
            continue
        seen.add(value)
        state = "new" if change.new_value is not None else "gone"
        found.append(
            {
                "dataType": data_type(value),
                "data": value,
                "message": f"{change.dataset} {change.field}: {state}",
                "tags": [f"watchpost:{change.dataset}", f"watchpost:{state}"],
                "ioc": False,
            }
        )
    return found


def _cell(text: str | None) -> str:
    return "" if text is None else text.replace("|", "\\|").replace("\n", " ")


def alert_body(delivery: PendingDelivery) -> dict[str, Any]:
    alert = delivery.alert
    rows = [
        f"| {_cell(c.dataset)} | {_cell(c.field)} | {_cell(c.old_value)} | {_cell(c.new_value)} |"
        for c in alert.changes
    ]
    where = f"channel `{delivery.channel_id}`" if delivery.channel_id else "every channel"
    description = "\n".join(
        [
            f"Watchpost saw **{alert.indicator}** change ({', '.join(alert.datasets) or 'no dataset'}),"
            f" monitored in {where}.",
            "",
            "| dataset | field | before | now |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Watchpost alert {alert.id} (`GET /api/v1/alerts/{alert.id}`), check `{alert.batch_id}`.",
        ]
    )
    return {
        "type": ALERT_TYPE,
        "source": ALERT_SOURCE,
        "sourceRef": delivery.idempotency_key,
        "title": f"{alert.indicator}: {', '.join(alert.datasets) or 'change'} changed",
        "description": description,
        "severity": SEVERITY_MEDIUM,
        "date": int(alert.detected_at.timestamp() * 1000),
        "tags": ["watchpost", *(f"watchpost:{d}" for d in alert.datasets)],
        "tlp": TLP_AMBER,
        "pap": PAP_AMBER,
        "observables": observables(delivery),
    }


def is_duplicate(status: int, body: Any) -> bool:
    """TheHive's refusal of an alert whose type, source and sourceRef it already has."""
    if status != 400 or not isinstance(body, dict):
        return False
    message = str(body.get("message", ""))
    # Not "Observable already exists": that one refuses the alert, it does not confirm it.
    return body.get("type") == "CreateError" and message.startswith("Alert ") and "already exist" in message


class TheHiveReceiver:
    name = THEHIVE

    def __init__(self, url: str, key: str, *, http: ReceiverHttp | None = None) -> None:
        self.url = url.rstrip("/")
        self.http = http if http is not None else ReceiverHttp()
        self._headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }

    async def send(self, delivery: PendingDelivery) -> None:
        answer = await self.http.request(
            "POST", f"{self.url}/api/v1/alert", headers=self._headers, json_body=alert_body(delivery)
        )
        if 200 <= answer.status < 300 or is_duplicate(answer.status, answer.json()):
            return
        raise answer.error("TheHive alert")

    async def already_delivered(self, delivery: PendingDelivery) -> bool:
        return False  # a repeat is refused as a duplicate, which `send` reads as delivered

    async def aclose(self) -> None:
        await self.http.aclose()
