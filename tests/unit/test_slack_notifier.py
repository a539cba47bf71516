"""The Slack notifier's classification of one attempt, against a local stand-in for the webhook, and
the retry backoff. No AWS here: the URL comes from settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from chalicelib.alerts.delivery import backoff, slack_text
from chalicelib.config import Settings
from chalicelib.integrations import slack
from postlaunch.localstack import free_port
from tests.slack_stub import FakeSlack


@pytest.fixture
def hook():
    server = FakeSlack()
    yield server
    server.stop()


def settings_for(url: str | None) -> Settings:
    return Settings(slack_webhook_url=SecretStr(url) if url else None, slack_timeout_seconds=2)


def test_a_2xx_answer_is_delivered(hook):
    result = slack.post("hello", settings=settings_for(hook.url))
    assert (result.outcome, result.status, result.error) == ("delivered", 200, None)
    assert hook.requests[0]["json"]["text"] == "hello"


def test_a_non_2xx_answer_is_a_failure_with_its_status_and_body(hook):
    hook.script = [(404, {}, "no_service")]
    result = slack.post("hello", settings=settings_for(hook.url))
    assert (result.outcome, result.error) == ("failed", "HTTP 404: no_service")


def test_a_rate_limit_is_a_failure_that_carries_retry_after(hook):
    hook.script = [(429, {"Retry-After": "30"}, "rate_limited")]
    result = slack.post("hello", settings=settings_for(hook.url))
    assert (result.outcome, result.status, result.retry_after) == ("failed", 429, 30.0)
    assert result.error == "rate limited (HTTP 429, Retry-After 30 s)"


def test_a_network_error_is_a_failure_whose_text_leaves_out_the_url():
    url = f"http://127.0.0.1:{free_port()}/services/T1/B2/secret-token-part"
    result = slack.post("hello", settings=settings_for(url))
    assert result.outcome == "failed" and result.error.startswith("network error:")
    assert "secret-token-part" not in result.error


def test_no_webhook_is_skipped_with_the_reason_never_delivered():
    result = slack.post("hello", settings=settings_for(None))
    assert (result.outcome, result.error) == ("skipped", slack.NO_WEBHOOK)


def test_the_webhook_url_does_not_show_in_the_settings_repr():
    assert "secret-token-part" not in repr(settings_for("https://hooks.example/secret-token-part"))


def test_backoff_doubles_up_to_its_cap_and_respects_retry_after():
    s = Settings(alert_delivery_backoff_seconds=60, alert_delivery_backoff_max_seconds=300)
    assert [backoff(n, s).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 300]
    assert backoff(1, s, retry_after=90) == timedelta(seconds=90)


def test_a_long_group_is_cut_to_what_slack_shows_and_points_at_the_api():
    alert = {
        "id": "a",
        "event": "firing",
        "rule": "HighErrorRate",
        "severity": "critical",
        "summary": "x" * 200,
        "labels": {},
        "value": 12.0,
        "threshold": 10.0,
        "deadline": "2026-01-01T00:15:00Z",
        "link": "/api/monitoring/alerts/a",
    }
    message = {"rule": "HighErrorRate", "severity": "critical", "alerts": [alert] * 40}
    text, blocks = slack_text(message)
    assert text.startswith("[FIRING:40] HighErrorRate (critical)")
    assert len(blocks[1]["text"]["text"]) <= 3000
    assert blocks[1]["text"]["text"].endswith("more in the API: /api/monitoring/alerts")
