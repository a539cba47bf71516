"""Posting to a Slack incoming webhook with slack_sdk's WebhookClient, and saying what happened.

The webhook URL is a credential (anyone holding it can post to the channel): it comes from
SLACK_WEBHOOK_URL, or on AWS from the Secrets Manager secret named by SLACK_WEBHOOK_SECRET_ARN (read
once per container and cached), and it never appears in a log line, an error text or a record. Each
call is one attempt: the client's own retry handlers are switched off, so every try is one recorded
attempt and the backoff between them is ours (chalicelib.alerts.delivery).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings, get_settings
from chalicelib.integrations.aws import aws_client

NO_WEBHOOK = "no webhook configured (SLACK_WEBHOOK_URL or SLACK_WEBHOOK_SECRET_ARN)"

_SECRET_CACHE: dict[str, str] = {}
_SECRET_LOCK = threading.Lock()


@dataclass(frozen=True)
class SlackResult:
    """One attempt: delivered (2xx), failed (network error, non-2xx, 429) or skipped (nothing to post to)."""

    outcome: Literal["delivered", "failed", "skipped"]
    error: str | None = None
    status: int | None = None
    # Seconds Slack asked us to wait (429 Retry-After); the next attempt is not sooner than this.
    retry_after: float | None = None


class WebhookUnavailable(Exception):
    """The secret holding the webhook URL could not be read (a failed attempt, not a skip)."""


def _secret_url(secret_arn: str, settings: Settings, client: Any | None) -> str:
    with _SECRET_LOCK:
        cached = _SECRET_CACHE.get(secret_arn)
    if cached:
        return cached
    client = client or aws_client("secretsmanager", settings)
    try:
        text = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise WebhookUnavailable(f"Secrets Manager refused the webhook secret ({code})") from exc
    except (BotoCoreError, KeyError) as exc:
        raise WebhookUnavailable(f"the webhook secret could not be read ({type(exc).__name__})") from exc
    url = text.strip()
    if url.startswith("{"):
        # A key/value secret, as the console creates them: {"url": "..."}.
        try:
            url = str(json.loads(url).get("url") or "").strip()
        except ValueError as exc:
            raise WebhookUnavailable("the webhook secret is neither a URL nor JSON with a 'url' key") from exc
    if not url.startswith("https://") and not url.startswith("http://"):
        raise WebhookUnavailable("the webhook secret holds no http(s) URL")
    with _SECRET_LOCK:
        _SECRET_CACHE[secret_arn] = url
    return url


def forget_cached_secret() -> None:
    """Drop the cached URL (tests; a rotated secret is picked up by the next container anyway)."""
    with _SECRET_LOCK:
        _SECRET_CACHE.clear()


def webhook_url(settings: Settings | None = None, secrets_client: Any | None = None) -> str | None:
    """The URL to post to, or None when none is configured. Raises WebhookUnavailable when a secret
    is configured but cannot be read."""
    settings = settings or get_settings()
    if settings.slack_webhook_url is not None and settings.slack_webhook_url.get_secret_value():
        return settings.slack_webhook_url.get_secret_value()
    if settings.slack_webhook_secret_arn:
        return _secret_url(settings.slack_webhook_secret_arn, settings, secrets_client)
    return None


def _scrub(text: str, url: str) -> str:
    """An error text without the URL or its secret path (some exceptions quote the request)."""
    text = text.replace(url, "<webhook>")
    path = url.split("://", 1)[-1].partition("/")[2]
    return text.replace(path, "<webhook>") if path else text


def post(
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    settings: Settings | None = None,
    secrets_client: Any | None = None,
) -> SlackResult:
    """Post one message; never raises for a delivery problem, never returns success it did not see."""
    from slack_sdk.webhook import WebhookClient

    settings = settings or get_settings()
    try:
        url = webhook_url(settings, secrets_client)
    except WebhookUnavailable as exc:
        return SlackResult("failed", error=str(exc))
    if not url:
        return SlackResult("skipped", error=NO_WEBHOOK)
    client = WebhookClient(url, timeout=settings.slack_timeout_seconds, retry_handlers=[])
    try:
        response = client.send(text=text, blocks=blocks)
    except Exception as exc:  # noqa: BLE001 - urllib raises many kinds; each is one failed attempt
        return SlackResult("failed", error=_scrub(f"network error: {type(exc).__name__}: {exc}", url)[:500])
    if 200 <= response.status_code < 300:
        return SlackResult("delivered", status=response.status_code)
    if response.status_code == 429:
        retry_after = _retry_after(response.headers)
        return SlackResult(
            "failed",
            error=f"rate limited (HTTP 429, Retry-After {retry_after:g} s)"
            if retry_after is not None
            else "rate limited (HTTP 429)",
            status=429,
            retry_after=retry_after,
        )
    body = _scrub(str(response.body or ""), url)[:200]
    return SlackResult("failed", error=f"HTTP {response.status_code}: {body}", status=response.status_code)


def _retry_after(headers: dict[str, Any] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return None
    return None
