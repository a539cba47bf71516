"""Token verification and role rules, without network: HS256 dev tokens and RS256 from a JWKS."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

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

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TEST"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_for(*pairs):
    keys = []
    for kid, key in pairs:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        keys.append(jwk)
    return json.dumps({"keys": keys})


def cognito_token(key, kid="k1", **overrides):
    now = int(time.time())
    claims = {
        "sub": "user-1",
        "iss": ISSUER,
        "iat": now,
        "exp": now + 600,
        "custom:workspace_id": "ws-1",
        "cognito:groups": ["staff"],
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keypair():
    return rsa_key()


@pytest.fixture
def jwks_settings(keypair):
    return Settings(auth_mode="jwks", jwt_issuer=ISSUER, jwks_json=jwks_for(("k1", keypair)))


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


def test_audience_is_checked_when_configured(keypair):
    settings = Settings(
        auth_mode="jwks", jwt_issuer=ISSUER, jwt_audience="client-123", jwks_json=jwks_for(("k1", keypair))
    )
    good = cognito_token(keypair, aud="client-123")
    bad = cognito_token(keypair, aud="another-client")
    assert authenticate(f"Bearer {good}", TokenVerifier(settings), settings).sub == "user-1"
    with pytest.raises(Unauthenticated):
        authenticate(f"Bearer {bad}", TokenVerifier(settings), settings)


def test_jwks_url_mode_uses_the_injected_key_client(keypair):
    """In production the key set is fetched from the issuer; the fetcher is injectable."""

    class FakeJwksClient:
        calls = 0

        def get_signing_key_from_jwt(self, token):
            FakeJwksClient.calls += 1
            return jwt.PyJWK(json.loads(jwks_for(("k1", keypair)))["keys"][0])

    settings = Settings(auth_mode="jwks", jwt_issuer=ISSUER, jwks_url="https://issuer.invalid/jwks.json")
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
