"""401 and 403 answers are counted as the EMF metric `AuthFailures` in exactly the namespace and
dimensions the SecurityBreach rule reads back from CloudWatch (docs/alerts.md, "Rules")."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib.alerts.rules import metric_queries
from chalicelib.auth import mint_dev_token
from chalicelib.config import get_settings
from chalicelib.observability import logger


@pytest.fixture(autouse=True)
def app_log_level():
    """chalice.test.Client lowers the app logger (to ERROR): put it back for the tests after this one."""
    level = logger.log_level
    yield
    logger.setLevel(level)


def emitted(capsys) -> list[dict]:
    """The EMF documents printed to stdout (what CloudWatch Logs turns into metrics on Lambda)."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [doc for doc in lines if "_aws" in doc]


def auth_failures(docs: list[dict]) -> list[tuple[str, dict, float]]:
    found = []
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == "AuthFailures" for m in directive["Metrics"]):
                dims = {name: doc[name] for group in directive["Dimensions"] for name in group}
                found.append((directive["Namespace"], dims, sum(doc["AuthFailures"])))
    return found


def test_401_and_403_are_counted_where_the_rule_reads_them(capsys):
    from app import app

    staff = mint_dev_token(get_settings(), role="staff", workspace_id="ws-metric")
    with Client(app) as client:
        capsys.readouterr()
        # Given a request without a token and one whose role may not read health
        assert client.http.get("/api/monitoring/whoami").status_code == 401
        forbidden = client.http.get(
            "/api/monitoring/system-health", headers={"Authorization": f"Bearer {staff}"}
        )
        assert forbidden.status_code == 403
        failures = auth_failures(emitted(capsys))
        # And a request that succeeds
        assert client.http.get("/api/monitoring/ping").status_code == 200
        after_ok = auth_failures(emitted(capsys))

    # Then each refusal is one AuthFailures count, none for the success
    [query] = [q for q in metric_queries(get_settings()) if q.metric == "AuthFailures"]
    assert failures == [(query.namespace, dict(query.dimensions), 1.0)] * 2
    assert after_ok == []
