"""Publishing to SNS topics. The client is injectable; AWS error codes become UpstreamUnavailable
here, so callers decide what a failed publish means (for feedback alerts: retry later)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.integrations.aws import aws_client


def publish_json(
    topic_arn: str | None,
    message: dict[str, Any],
    *,
    attributes: dict[str, str] | None = None,
    subject: str | None = None,
    settings: Settings | None = None,
    client: Any | None = None,
) -> str:
    """Publish `message` as JSON with string MessageAttributes (subscribers filter on them).
    Returns the SNS MessageId; raises UpstreamUnavailable when nothing was published."""
    if not topic_arn:
        raise UpstreamUnavailable("No alerts topic is configured (ALERTS_TOPIC_ARN).")
    client = client or aws_client("sns", settings)
    kwargs: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Message": json.dumps(message, separators=(",", ":"), sort_keys=True),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
        },
    }
    if subject:
        kwargs["Subject"] = subject[:100]  # SNS's limit for Subject
    try:
        return client.publish(**kwargs)["MessageId"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        raise UpstreamUnavailable(
            f"SNS refused the message ({code}).", details={"awsCode": code, "topicArn": topic_arn}
        ) from exc
    except BotoCoreError as exc:
        raise UpstreamUnavailable(
            f"SNS could not be reached ({type(exc).__name__}).", details={"topicArn": topic_arn}
        ) from exc
