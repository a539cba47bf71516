"""CloudWatch Logs reads: log groups by prefix (DescribeLogGroups) and filtered events
(FilterLogEvents). The only module that speaks CloudWatch Logs' wire shapes; AWS errors become
domain errors here, by error code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import NotFound, UpstreamUnavailable
from chalicelib.integrations.aws import aws_client

# API limits (CloudWatch Logs API reference): DescribeLogGroups pages hold at most 50 groups;
# FilterLogEvents at most 10,000 events (and 1 MB) per page.
GROUPS_PER_PAGE = 50
EVENTS_PER_PAGE = 10_000


@dataclass(frozen=True)
class LogEvent:
    group: str
    stream: str
    timestamp: int  # epoch milliseconds, as CloudWatch Logs keeps them
    message: str
    event_id: str


@dataclass
class EventPage:
    events: list[LogEvent]
    next_token: str | None


def _upstream(exc: Exception, action: str, target: str) -> Exception:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        if code == "ResourceNotFoundException":
            return NotFound(f"CloudWatch Logs {action}: {target} does not exist.", details={"awsCode": code})
        return UpstreamUnavailable(
            f"CloudWatch Logs {action} for {target} failed ({code}).", details={"awsCode": code}
        )
    return UpstreamUnavailable(f"CloudWatch Logs {action} could not be reached ({type(exc).__name__}).")


def log_groups(
    prefix: str, *, max_pages: int = 4, client: Any = None, settings: Settings | None = None
) -> tuple[list[str], int]:
    """Names of the log groups starting with `prefix` (at most max_pages pages of 50), and the calls made."""
    client = client or aws_client("logs", settings)
    names: list[str] = []
    token: str | None = None
    calls = 0
    while calls < max_pages:
        kwargs: dict[str, Any] = {"logGroupNamePrefix": prefix, "limit": GROUPS_PER_PAGE}
        if token:
            kwargs["nextToken"] = token
        try:
            calls += 1
            page = client.describe_log_groups(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _upstream(exc, "DescribeLogGroups", prefix) from exc
        names += [g["logGroupName"] for g in page.get("logGroups", [])]
        token = page.get("nextToken")
        if not token:
            break
    return sorted(names), calls


def filter_events(
    group: str,
    start_ms: int,
    end_ms: int,
    *,
    pattern: str = "",
    limit: int = EVENTS_PER_PAGE,
    next_token: str | None = None,
    client: Any = None,
    settings: Settings | None = None,
) -> EventPage:
    """One FilterLogEvents page of `group` over [start_ms, end_ms], oldest first."""
    client = client or aws_client("logs", settings)
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "startTime": start_ms,
        "endTime": end_ms,
        "limit": max(1, min(limit, EVENTS_PER_PAGE)),
    }
    if pattern:
        kwargs["filterPattern"] = pattern
    if next_token:
        kwargs["nextToken"] = next_token
    try:
        page = client.filter_log_events(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise _upstream(exc, "FilterLogEvents", group) from exc
    return EventPage(
        events=[
            LogEvent(
                group=group,
                stream=e.get("logStreamName", ""),
                timestamp=int(e["timestamp"]),
                message=e.get("message", ""),
                event_id=e.get("eventId", ""),
            )
            for e in page.get("events", [])
        ],
        next_token=page.get("nextToken"),
    )
