"""Token verification and role rules, without network: HS256 dev tokens and RS256 from a JWKS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib import auth as auth_module
from chalicelib.auth import (
    Principal,
    Role,
    TokenVerifier,
    authenticate,
    bearer_token,
    mint_dev_token,
)
from chalicelib.config import Settings
from chalicelib.errors import Forbidden, Unauthenticated
from postlaunch.devstack import chalice_stage_env

ROOT = Path(__file__).resolve().parents[2]

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"
CLIENT = "our-app-client"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_for(*pairs):
    keys = []
    for kid, key in pairs:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        keys.append(jwk)
    return json.dumps({"keys": keys})


DROP = object()  # an override that removes the claim


def cognito_token(key, kid="k1", **overrides):
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        "custom:workspace_id": "ws-1",
        "cognito:groups": ["staff"],
        "token_use": "id",
        "aud": CLIENT,
        **overrides,
    }
    claims = {name: value for name, value in claims.items() if value is not DROP}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keypair():
    return rsa_key()


@pytest.fixture
def jwks_settings(keypair):
    return Settings(
        auth_mode="jwks", jwt_issuer=ISSUER, jwt_audience=[CLIENT], jwks_json=jwks_for(("k1", keypair))
    )


LOCAL = Settings()


def test_dev_token_round_trip():
    token = mint_dev_token(LOCAL, role="staff", workspace_id="ws-9", sub="alice")
    principal = authenticate(f"Bearer {token}", TokenVerifier(LOCAL), LOCAL)
    assert principal == Principal(sub="alice", workspace_id="ws-9", roles=frozenset({Role.STAFF}))


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer   ", "Basic abc", "token-without-scheme", "Bearer not.a.jwt", "Bearer abc"],
)
def test_missing_or_malformed_header_is_unauthenticated(header):
    with pytest.raises(Unauthenticated):
        authenticate(header, TokenVerifier(LOCAL), LOCAL)


def test_expired_dev_token_is_unauthenticated():
    token = mint_dev_token(LOCAL, role="staff", workspace_id="ws", now=time.time() - 7200, ttl_seconds=60)
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(f"Bearer {token}", TokenVerifier(LOCAL), LOCAL)


def test_dev_token_signed_with_another_secret_is_unauthenticated():
    other = Settings(dev_token_secret="someone-else-entirely-with-a-long-secret")
    token = mint_dev_token(other, role="admin", workspace_id="ws")
    with pytest.raises(Unauthenticated):
        authenticate(f"Bearer {token}", TokenVerifier(LOCAL), LOCAL)


def test_wrong_issuer_is_unauthenticated():
    token = mint_dev_token(Settings(jwt_issuer="elsewhere"), role="staff", workspace_id="ws")
    with pytest.raises(Unauthenticated):
        authenticate(f"Bearer {token}", TokenVerifier(LOCAL), LOCAL)


def test_token_without_known_role_is_forbidden_not_unauthenticated():
    now = int(time.time())
    token = jwt.encode(
        {"sub": "x", "iss": LOCAL.jwt_issuer, "exp": now + 60, "cognito:groups": ["pharmacist"]},
        LOCAL.dev_token_secret,
        algorithm="HS256",
    )
    with pytest.raises(Forbidden):
        authenticate(f"Bearer {token}", TokenVerifier(LOCAL), LOCAL)


def test_rs256_token_from_jwks_is_accepted(keypair, jwks_settings):
    token = cognito_token(keypair, **{"cognito:groups": ["engineer", "unrelated-group"]})
    principal = authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)
    assert principal.sub == "user-1"
    assert principal.workspace_id == "ws-1"
    assert principal.roles == frozenset({Role.ENGINEER})
    assert principal.spans_workspaces


def test_rs256_token_signed_by_another_key_is_rejected(jwks_settings):
    token = cognito_token(rsa_key(), kid="k1")
    with pytest.raises(Unauthenticated):
        authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)


def test_rs256_token_with_unknown_kid_is_rejected(keypair, jwks_settings):
    token = cognito_token(keypair, kid="rotated-away")
    with pytest.raises(Unauthenticated, match="key set"):
        authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)


def test_hs256_token_is_refused_where_rs256_is_required(jwks_settings):
    """Algorithm confusion: a token signed with a shared secret must not pass the JWKS verifier."""
    token = jwt.encode(
        {"sub": "x", "iss": ISSUER, "exp": int(time.time()) + 60, "cognito:groups": ["admin"]},
        "a-shared-secret-that-is-long-enough-for-hs256",
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthenticated):
        authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)


def test_expired_rs256_token_is_rejected(keypair, jwks_settings):
    token = cognito_token(keypair, exp=int(time.time()) - 10)
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)


def test_dev_token_audience_is_checked_when_configured():
    settings = Settings(jwt_audience=["client-123"])
    good = mint_dev_token(settings, role="staff", workspace_id="ws")
    bad = mint_dev_token(Settings(jwt_audience=["another-client"]), role="staff", workspace_id="ws")
    assert authenticate(f"Bearer {good}", TokenVerifier(settings), settings).workspace_id == "ws"
    with pytest.raises(Unauthenticated, match="'aud'"):
        authenticate(f"Bearer {bad}", TokenVerifier(settings), settings)


def test_jwks_url_mode_uses_the_injected_key_client(keypair):
    """In production the key set is fetched from the issuer; the fetcher is injectable."""

    class FakeJwksClient:
        calls = 0

        def get_signing_key_from_jwt(self, token):
            FakeJwksClient.calls += 1
            return jwt.PyJWK(json.loads(jwks_for(("k1", keypair)))["keys"][0])

    settings = Settings(
        auth_mode="jwks",
        jwt_issuer=ISSUER,
        jwt_audience=[CLIENT],
        jwks_url="https://issuer.invalid/jwks.json",
    )
    verifier = TokenVerifier(settings, jwks_client=FakeJwksClient())
    assert authenticate(f"Bearer {cognito_token(keypair)}", verifier, settings).workspace_id == "ws-1"
    assert FakeJwksClient.calls == 1


def test_dev_tokens_cannot_be_minted_for_jwks_stages(jwks_settings):
    with pytest.raises(ValueError):
        mint_dev_token(jwks_settings, role="admin", workspace_id="ws")


@pytest.mark.parametrize(
    ("role", "allowed", "ok"),
    [
        (Role.STAFF, {Role.STAFF}, True),
        (Role.STAFF, {Role.ENGINEER}, False),
        (Role.ENGINEER, {Role.STAFF}, True),
        (Role.ENGINEER, {Role.ADMIN}, False),
        (Role.ADMIN, {Role.ENGINEER}, True),
        (Role.ADMIN, {Role.INGEST}, False),
        (Role.INGEST, {Role.STAFF}, False),
        (Role.INGEST, {Role.INGEST}, True),
    ],
)
def test_role_implications(role, allowed, ok):
    principal = Principal(sub="s", workspace_id="ws", roles=frozenset({role}))
    if ok:
        principal.require(allowed)
    else:
        with pytest.raises(Forbidden):
            principal.require(allowed)


def test_staff_is_confined_to_its_workspace_and_engineers_are_not():
    staff = Principal(sub="s", workspace_id="ws-a", roles=frozenset({Role.STAFF}))
    engineer = Principal(sub="e", workspace_id=None, roles=frozenset({Role.ENGINEER}))
    staff.check_workspace("ws-a")
    with pytest.raises(Forbidden):
        staff.check_workspace("ws-b")
    engineer.check_workspace("ws-b")
    with pytest.raises(Forbidden):
        engineer.require_workspace()


def test_bearer_scheme_is_case_insensitive():
    assert bearer_token("bearer abc.def.ghi") == "abc.def.ghi"


# ------------------------------------------------------------------ fail closed: settings per stage


PROD_AUTH = {
    "STAGE": "prod",
    "AUTH_MODE": "jwks",
    "JWT_ISSUER": ISSUER,
    "JWKS_URL": ISSUER + "/.well-known/jwks.json",
    "JWT_AUDIENCE": "client-a, client-b",
}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STAGE": "prod"}, ["AUTH_MODE=jwks", "JWT_ISSUER", "JWKS_URL", "JWT_AUDIENCE"]),
        ({**PROD_AUTH, "AUTH_MODE": "hs256"}, ["AUTH_MODE=jwks"]),
        ({**PROD_AUTH, "JWT_AUDIENCE": ""}, ["JWT_AUDIENCE"]),
        ({**PROD_AUTH, "JWKS_URL": ""}, ["JWKS_URL"]),
        ({**PROD_AUTH, "JWT_ISSUER": "http://issuer.example"}, ["JWT_ISSUER"]),
        ({"STAGE": "local", "AUTH_MODE": "jwks"}, ["JWT_ISSUER", "JWKS_URL", "JWT_AUDIENCE"]),
        # On Lambda, a missing STAGE does not make the local stage.
        ({"AWS_LAMBDA_FUNCTION_NAME": "fn"}, ["AUTH_MODE=jwks"]),
    ],
)
def test_settings_refuse_to_start_without_rs256_auth(env, named):
    with pytest.raises(ValueError) as raised:
        Settings.from_env(env)
    for variable in named:
        assert variable in str(raised.value)


def test_a_complete_rs256_stage_starts():
    settings = Settings.from_env(PROD_AUTH)
    assert settings.auth_mode == "jwks"
    assert settings.jwt_audience == ["client-a", "client-b"]
    assert settings.jwt_token_use == ["id", "access"]
    assert Settings.from_env({**PROD_AUTH, "JWT_TOKEN_USE": "access"}).jwt_token_use == ["access"]


def test_importing_the_app_on_a_stage_without_rs256_auth_fails_with_the_variables_to_set():
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_MODE", "JWT_AUDIENCE", "JWKS_URL")}
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT,
        env={**env, "STAGE": "prod"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "STAGE=prod refuses to start" in result.stderr
    assert "AUTH_MODE=jwks" in result.stderr and "JWT_AUDIENCE" in result.stderr


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_deployed_stages_config_is_complete(stage):
    """`chalice package --stage <stage>` imports app.py with these variables: they must validate
    (with placeholder Cognito values that a deployer replaces)."""
    settings = Settings.from_env(chalice_stage_env(stage))
    assert settings.stage == stage and settings.auth_mode == "jwks" and settings.jwt_audience


def test_hs256_is_impossible_outside_the_local_stage():
    # model_construct skips validation: even settings built around it do not make HS256 usable.
    unsafe = Settings.model_construct(**{**Settings().model_dump(), "stage": "prod"})
    with pytest.raises(ValueError):
        mint_dev_token(unsafe, role="admin", workspace_id="ws")
    token = mint_dev_token(LOCAL, role="admin", workspace_id="ws")
    with pytest.raises(Unauthenticated, match="local stage"):
        authenticate(f"Bearer {token}", TokenVerifier(unsafe), unsafe)


# ------------------------------------------------------------------ audience, client id, token_use


def accepts(settings, token) -> bool:
    try:
        authenticate(f"Bearer {token}", TokenVerifier(settings), settings)
    except Unauthenticated:
        return False
    return True


def test_id_tokens_must_be_for_one_of_our_app_clients(keypair, jwks_settings):
    assert accepts(jwks_settings, cognito_token(keypair, aud=CLIENT))
    assert accepts(jwks_settings, cognito_token(keypair, aud=["someone", CLIENT]))
    assert not accepts(jwks_settings, cognito_token(keypair, aud="another-client-of-the-pool"))
    assert not accepts(jwks_settings, cognito_token(keypair, aud=DROP))
    assert not accepts(jwks_settings, cognito_token(keypair, aud=7))


def test_access_tokens_are_checked_by_client_id(keypair, jwks_settings):
    access = {"token_use": "access", "aud": DROP}
    assert accepts(jwks_settings, cognito_token(keypair, client_id=CLIENT, **access))
    assert not accepts(jwks_settings, cognito_token(keypair, client_id="another-client", **access))
    # An aud naming us does not stand in for an access token's client_id.
    assert not accepts(jwks_settings, cognito_token(keypair, **{**access, "aud": CLIENT}))


@pytest.mark.parametrize("token_use", [DROP, "refresh", "", 1, ["id"]])
def test_token_use_must_be_an_accepted_use(keypair, jwks_settings, token_use):
    with pytest.raises(Unauthenticated, match="token_use") as raised:
        authenticate(
            f"Bearer {cognito_token(keypair, token_use=token_use)}",
            TokenVerifier(jwks_settings),
            jwks_settings,
        )
    assert raised.value.details == {"claim": "token_use"}


def test_only_the_configured_token_uses_are_accepted(keypair, jwks_settings):
    id_only = jwks_settings.model_copy(update={"jwt_token_use": ["id"]})
    assert accepts(id_only, cognito_token(keypair))
    assert not accepts(id_only, cognito_token(keypair, token_use="access", client_id=CLIENT))


# ------------------------------------------------------------------ claim types


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("cognito:groups", 5),
        ("cognito:groups", [["admin"]]),
        ("cognito:groups", {"admin": True}),
        ("cognito:groups", "admin"),
        ("cognito:groups", ["admin", 1]),
        ("sub", 12345),
        ("sub", ""),
        ("sub", "s" * 256),
        ("custom:workspace_id", ["ws-1"]),
        ("custom:workspace_id", 7),
        ("custom:workspace_id", {"id": "ws-1"}),
        ("custom:workspace_id", "w" * 101),
    ],
)
def test_a_claim_of_the_wrong_type_is_unauthenticated_naming_it(keypair, jwks_settings, claim, value):
    token = cognito_token(keypair, **{claim: value})
    with pytest.raises(Unauthenticated) as raised:
        authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)
    assert raised.value.details == {"claim": claim}
    assert repr(claim) in raised.value.message


def test_unknown_groups_are_ignored_and_logged(keypair, jwks_settings, monkeypatch):
    logged = []
    monkeypatch.setattr(auth_module.logger, "info", lambda msg, extra=None: logged.append((msg, extra)))
    token = cognito_token(keypair, **{"cognito:groups": ["pharmacists", "staff", "us-east-1_TEST_Google"]})
    principal = authenticate(f"Bearer {token}", TokenVerifier(jwks_settings), jwks_settings)
    assert principal.roles == frozenset({Role.STAFF})
    assert logged == [("token groups ignored", {"ignoredGroups": ["pharmacists", "us-east-1_TEST_Google"]})]


def test_no_groups_claim_is_forbidden_not_a_type_error(keypair, jwks_settings):
    with pytest.raises(Forbidden):
        authenticate(
            f"Bearer {cognito_token(keypair, **{'cognito:groups': DROP})}",
            TokenVerifier(jwks_settings),
            jwks_settings,
        )
