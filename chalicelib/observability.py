"""Powertools Logger and Metrics, one of each per process. (No Tracer: it pulls aws_xray_sdk into
every cold start.)"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "post-launch-monitor")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "PostLaunchMonitor")

# 401 and 403 answers, counted by the HTTP middleware; the SecurityBreach alert rule reads it back.
AUTH_FAILURES_METRIC = "AuthFailures"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def flush_metrics() -> None:
    """Emit what was recorded (EMF on stdout, which CloudWatch turns into metrics on Lambda)."""
    metrics.flush_metrics(raise_on_empty_metrics=False)
