"""What the alert and silence routes (and the CLI) do: validate, call the engine or the store, shape
the answer. No HTTP here (chalicelib.web maps the domain errors), no boto3 (chalicelib.store)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.alerts import engine
from chalicelib.alerts import silences as silence_logic
from chalicelib.alerts.model import public_view
from chalicelib.config import Settings
from chalicelib.errors import NotFound
from chalicelib.schemas.alerts import AlertListQuery, AlertResolve, SilenceCreate, SilenceListQuery
from chalicelib.schemas.feedback import parse
from chalicelib.store import alerts as store
from chalicelib.store.base import bind_models


def list_alerts(query: AlertListQuery | dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Alerts newest first by state (active = firing and acknowledged), filtered, cursor-paginated."""
    query = parse(AlertListQuery, query)
    page = store.list_alerts(
        state=query.state,
        severity=query.severity,
        rule=query.rule,
        limit=query.limit,
        cursor=query.cursor,
        settings=settings,
    )
    return {**page, "items": [public_view(alert) for alert in page["items"]]}


def critical_firing(settings: Settings | None = None) -> bool:
    """Whether any critical alert is firing (the CLI's exit code follows it)."""
    return store.any_firing("critical", settings=settings)


def get_alert(alert_id: str, settings: Settings | None = None) -> dict[str, Any]:
    bind_models(settings)
    found = store.get(alert_id)
    if found is None:
        raise NotFound(f"Alert {alert_id} does not exist.")
    return public_view(found)


def acknowledge(
    alert_id: str, actor: str, now: datetime | None = None, settings: Settings | None = None
) -> dict:
    """firing -> acknowledged (the engine refuses a resolved one: invalid_transition)."""
    return public_view(engine.acknowledge(alert_id, actor, now=now, settings=settings))


def resolve(
    alert_id: str,
    actor: str,
    body: AlertResolve | dict[str, Any],
    now: datetime | None = None,
    settings: Settings | None = None,
) -> dict:
    body = parse(AlertResolve, body)
    return public_view(engine.resolve(alert_id, actor, body.reason, now=now, settings=settings))


def list_silences(
    query: SilenceListQuery | dict[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    query = parse(SilenceListQuery, query)
    return silence_logic.list_silences(query.state, query.limit, query.cursor, settings=settings)


def create_silence(
    body: SilenceCreate | dict[str, Any], actor: str, settings: Settings | None = None
) -> dict:
    return silence_logic.create_silence(body, actor, settings=settings)


def expire_silence(silence_id: str, actor: str, settings: Settings | None = None) -> dict:
    return silence_logic.expire_silence(silence_id, actor, settings=settings)
