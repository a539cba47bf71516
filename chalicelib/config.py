"""Settings, read once from the environment.

On AWS the CloudFormation merge template sets the resource names (Globals.Function.Environment);
locally the dev stack resolves the same variables from the stack it created on moto.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class Settings(BaseModel):
    stage: str = "local"
    region: str = "us-east-1"
    endpoint_url: str | None = None

    feedback_table: str = "plm-local-feedback"
    idempotency_table: str = "plm-local-idempotency"
    issues_table: str = "plm-local-issues"
    health_table: str = "plm-local-health"
    alerts_topic_arn: str | None = None

    # Auth: "hs256" verifies dev tokens signed with dev_token_secret (local stage only);
    # "jwks" verifies RS256 tokens from the configured issuer's JWKS (production).
    auth_mode: Literal["hs256", "jwks"] = "hs256"
    dev_token_secret: str = "local-dev-secret-not-for-production"
    jwt_issuer: str = "post-launch-monitor-local"
    jwt_audience: str | None = None
    jwks_url: str | None = None
    jwks_json: str | None = None
    workspace_claim: str = "custom:workspace_id"
    groups_claim: str = "cognito:groups"

    cors_origins: list[str] = Field(default_factory=list)

    # Feedback listing looks back at most this far when no startDate is given.
    list_horizon_days: int = 366
    page_size_max: int = 100

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "stage": env.get("STAGE", "local"),
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            "endpoint_url": env.get("AWS_ENDPOINT_URL") or None,
            "cors_origins": _csv(env.get("CORS_ORIGINS")),
        }
        for name in (
            "feedback_table",
            "idempotency_table",
            "issues_table",
            "health_table",
            "alerts_topic_arn",
            "auth_mode",
            "dev_token_secret",
            "jwt_issuer",
            "jwt_audience",
            "jwks_url",
            "jwks_json",
            "workspace_claim",
            "groups_claim",
            "list_horizon_days",
            "page_size_max",
        ):
            raw = env.get(name.upper())
            if raw not in (None, ""):
                values[name] = raw
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    """Forget the cached settings (tests and the dev stack change the environment)."""
    get_settings.cache_clear()
    from chalicelib.integrations.aws import reset_clients

    reset_clients()
