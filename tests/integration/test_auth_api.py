"""Auth over HTTP: HS256 dev tokens on the local stage, and RS256 + JWKS as production verifies them
(a second `chalice local` started with AUTH_MODE=jwks and a key set generated here)."""

from __future__ import annotations

import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from postlaunch.localstack import ChaliceLocal

WHOAMI = "/api/monitoring/whoami"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
CLIENT = "monitor-web-client"
OTHER_CLIENT = "another-app-of-the-same-pool"
DROP = object()  # an override that removes the claim


def get(url: str, token: str | None = None, raw_header: str | None = None) -> requests.Response:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if raw_header is not None:
        headers["Authorization"] = raw_header
    return requests.get(url, headers=headers, timeout=30)


def test_dev_token_identifies_the_caller(stack, workspace):
    response = stack.client("staff", workspace, sub="pharmacist-7").get(WHOAMI)
    assert response.status_code == 200
    assert response.json() == {
        "sub": "pharmacist-7",
        "workspaceId": workspace,
        "roles": ["staff"],
        "spansWorkspaces": False,
    }


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer a.b.c"]
)
def test_missing_or_malformed_token_gets_401(stack, header):
    response = get(stack.api_url + WHOAMI, raw_header=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_gets_401(stack, workspace):
    token = stack.token("staff", workspace, now=time.time() - 3600, ttl_seconds=60)
    response = get(stack.api_url + WHOAMI, token)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_wrongly_signed_token_gets_401(stack, workspace):
    claims = jwt.decode(stack.token("admin", workspace), options={"verify_signature": False})
    forged = jwt.encode(claims, "an-attacker-secret-of-sufficient-length-32b", algorithm="HS256")
    assert get(stack.api_url + WHOAMI, forged).status_code == 401


def test_token_without_a_known_role_gets_403(stack):
    settings = stack.settings()
    token = jwt.encode(
        {"sub": "x", "iss": settings.jwt_issuer, "exp": int(time.time()) + 60, "cognito:groups": ["guest"]},
        settings.dev_token_secret,
        algorithm="HS256",
    )
    response = get(stack.api_url + WHOAMI, token)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.fixture(scope="module")
def rsa_stage(stack, tmp_path_factory):
    """The API as production runs it: RS256 tokens checked against the issuer's key set."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "prod-key", "alg": "RS256", "use": "sig"})
    env = {
        **stack.env,
        "AUTH_MODE": "jwks",
        "JWT_ISSUER": ISSUER,
        "JWKS_JSON": json.dumps({"keys": [jwk]}),
        "JWT_AUDIENCE": CLIENT,
    }
    log = open(tmp_path_factory.mktemp("rsa") / "chalice.log", "w")
    server = ChaliceLocal(env, log=log).start()
    yield server.url, key
    server.stop()
    log.close()


def cognito_token(key, kid="prod-key", **overrides):
    now = int(time.time())
    claims = {
        "sub": "cognito-user",
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
        "custom:workspace_id": "ws-prod",
        "cognito:groups": ["engineer"],
        "token_use": "id",
        "aud": CLIENT,
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not DROP}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_rs256_stage_accepts_issuer_tokens(rsa_stage):
    url, key = rsa_stage
    response = get(url + WHOAMI, cognito_token(key))
    assert response.status_code == 200
    assert response.json()["roles"] == ["engineer"]
    assert response.json()["workspaceId"] == "ws-prod"


def test_rs256_stage_rejects_dev_tokens_and_foreign_keys(stack, rsa_stage, workspace):
    url, _ = rsa_stage
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert get(url + WHOAMI, stack.token("admin", workspace)).status_code == 401
    assert get(url + WHOAMI, cognito_token(other)).status_code == 401
    assert get(url + WHOAMI, cognito_token(other, kid="unknown")).status_code == 401


def test_rs256_stage_rejects_expired_and_wrong_issuer(rsa_stage):
    url, key = rsa_stage
    assert get(url + WHOAMI, cognito_token(key, exp=int(time.time()) - 5)).status_code == 401
    assert get(url + WHOAMI, cognito_token(key, iss="https://evil.example")).status_code == 401


def test_rs256_stage_refuses_tokens_of_another_app_client(rsa_stage):
    """Given a pool with two app clients, when a token issued to the other one is presented, 401."""
    url, key = rsa_stage
    access = {"token_use": "access", "aud": DROP}
    assert get(url + WHOAMI, cognito_token(key, client_id=CLIENT, **access)).status_code == 200
    for token in (
        cognito_token(key, aud=OTHER_CLIENT),
        cognito_token(key, client_id=OTHER_CLIENT, **access),
        cognito_token(key, aud=DROP),
    ):
        response = get(url + WHOAMI, token)
        assert response.status_code == 401
        assert response.json()["error"]["claim"] in ("aud", "client_id")


@pytest.mark.parametrize("token_use", ["refresh", DROP, 1])
def test_rs256_stage_refuses_a_wrong_or_missing_token_use(rsa_stage, token_use):
    url, key = rsa_stage
    response = get(url + WHOAMI, cognito_token(key, token_use=token_use))
    assert response.status_code == 401
    assert response.json()["error"]["claim"] == "token_use"


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("cognito:groups", 1),
        ("cognito:groups", [["admin"]]),
        ("cognito:groups", {"admin": True}),
        ("sub", 42),
        ("custom:workspace_id", ["ws-prod"]),
    ],
)
def test_a_claim_of_the_wrong_type_is_a_401_naming_it(rsa_stage, claim, value):
    url, key = rsa_stage
    response = get(url + WHOAMI, cognito_token(key, **{claim: value}))
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthenticated" and error["claim"] == claim
    assert claim in error["message"]


def test_unknown_groups_are_ignored(rsa_stage):
    url, key = rsa_stage
    response = get(
        url + WHOAMI, cognito_token(key, **{"cognito:groups": ["us-east-1_TEST_Google", "engineer"]})
    )
    assert response.status_code == 200
    assert response.json()["roles"] == ["engineer"]
