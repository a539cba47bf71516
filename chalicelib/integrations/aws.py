"""boto3 clients, created lazily once per (service, settings) and injectable everywhere.

Code that talks to AWS takes a `client=None` argument and falls back to `aws_client(...)`, so a
test can pass its own client and the app gets one shared client per process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.config import Settings, get_settings

_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=3, read_timeout=10)
# Services on a request's path that the request can do without: a slow answer must not take the
# request past API Gateway's 29 s, so fewer retries and shorter waits.
_SERVICE_CONFIG = {
    "comprehendmedical": Config(
        retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=2, read_timeout=5
    ),
}


@lru_cache(maxsize=32)
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    return boto3.session.Session().client(
        service, region_name=region, endpoint_url=endpoint_url, config=_SERVICE_CONFIG.get(service, _CONFIG)
    )


def aws_client(service: str, settings: Settings | None = None) -> Any:
    settings = settings or get_settings()
    return _client(service, settings.region, settings.endpoint_url)


def reset_clients() -> None:
    _client.cache_clear()
