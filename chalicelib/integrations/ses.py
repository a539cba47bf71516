"""Sending email through SES. The client is injectable; AWS error codes become UpstreamUnavailable
here, with the code in the details, so the caller records a failed send and retries it later."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.config import Settings
from chalicelib.errors import UpstreamUnavailable
from chalicelib.integrations.aws import aws_client


def send_raw(raw: bytes, *, source: str, settings: Settings | None = None, client: Any | None = None) -> str:
    """Send one MIME message as it is (SendRawEmail: the only SES v1 call that carries attachments).
    The recipients are the message's own To header, so the message and the envelope agree.
    Returns the SES MessageId; raises UpstreamUnavailable when SES did not accept it."""
    client = client or aws_client("ses", settings)
    try:
        return client.send_raw_email(Source=source, RawMessage={"Data": raw})["MessageId"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code")
        raise UpstreamUnavailable(
            f"SES refused the message ({code}: {error.get('Message', '')}).".replace(": )", ")"),
            details={"awsCode": code, "source": source},
        ) from exc
    except BotoCoreError as exc:
        raise UpstreamUnavailable(
            f"SES could not be reached ({type(exc).__name__}).", details={"source": source}
        ) from exc
