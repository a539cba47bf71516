"""Bearer-token authentication and role checks.

Auth runs inside the app (not as an API Gateway authorizer) so that the contract holds the same
locally and on AWS: 401 for a missing or bad token, 403 for a good token without the right.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.config import LOCAL_STAGE, Settings
from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.lazy import lazy
from chalicelib.observability import logger

# PyJWT imports cryptography (RS256): tens of milliseconds of a cold start that the liveness probe
# does not need. The first token verified imports it.
jwt = lazy("jwt")

# Identity values are stored (userId, workspaceId, history `by`), so their size is bounded here:
# OpenID Connect caps `sub` at 255 characters; workspace ids share the query parameter's limit.
MAX_SUB_LENGTH = 255
MAX_WORKSPACE_LENGTH = 100


class Role(StrEnum):
    STAFF = "staff"
    ENGINEER = "engineer"
    ADMIN = "admin"
    INGEST = "ingest"


# A role also holds the rights of the roles it implies.
_IMPLIES: dict[Role, set[Role]] = {
    Role.STAFF: {Role.STAFF},
    Role.ENGINEER: {Role.ENGINEER, Role.STAFF},
    Role.ADMIN: {Role.ADMIN, Role.ENGINEER, Role.STAFF},
    Role.INGEST: {Role.INGEST},
}


@dataclass(frozen=True)
class Principal:
    sub: str
    workspace_id: str | None
    roles: frozenset[Role] = field(default_factory=frozenset)

    @property
    def effective_roles(self) -> set[Role]:
        out: set[Role] = set()
        for role in self.roles:
            out |= _IMPLIES[role]
        return out

    @property
    def spans_workspaces(self) -> bool:
        return Role.ENGINEER in self.effective_roles

    @property
    def primary_role(self) -> str:
        for role in (Role.ADMIN, Role.ENGINEER, Role.STAFF, Role.INGEST):
            if role in self.roles:
                return role.value
        return ""

    def describe(self) -> dict[str, Any]:
        return {
            "sub": self.sub,
            "workspaceId": self.workspace_id,
            "roles": sorted(r.value for r in self.roles),
            "spansWorkspaces": self.spans_workspaces,
        }

    def require(self, allowed: Iterable[Role]) -> None:
        allowed = set(allowed)
        if not allowed & self.effective_roles:
            names = ", ".join(sorted(r.value for r in allowed))
            raise Forbidden(f"This action needs one of the roles: {names}.")

    def require_workspace(self) -> str:
        if not self.workspace_id:
            raise Forbidden("The token carries no workspace; this action needs one.")
        return self.workspace_id

    def check_workspace(self, workspace_id: str) -> None:
        if not self.spans_workspaces and workspace_id != self.workspace_id:
            raise Forbidden("This item belongs to another workspace.")


class TokenVerifier:
    """Verifies a JWT and returns its claims. The JWKS source is injectable (no network in tests)."""

    def __init__(self, settings: Settings, jwks_client: Any | None = None):
        self._settings = settings
        self._jwks_client = jwks_client

    def _signing_key(self, token: str) -> Any:
        settings = self._settings
        if settings.auth_mode == "hs256":
            return settings.dev_token_secret
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"Malformed token: {exc}.") from exc
        kid = header.get("kid")
        if settings.jwks_json:
            keys = jwt.PyJWKSet.from_dict(json.loads(settings.jwks_json)).keys
            for key in keys:
                if key.key_id == kid:
                    return key.key
            raise Unauthenticated("The token's signing key is not in the issuer's key set.")
        if self._jwks_client is None:
            if not settings.jwks_url:
                raise Unauthenticated("No key set is configured to verify tokens.")
            self._jwks_client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=3600)
        try:
            return self._jwks_client.get_signing_key_from_jwt(token).key
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The token's signing key could not be found: {exc}.") from exc

    def verify(self, token: str) -> dict[str, Any]:
        settings = self._settings
        if settings.auth_mode == "hs256" and settings.stage != LOCAL_STAGE:
            # Settings refuse this combination at start-up; never trust the published secret anyway.
            raise Unauthenticated("Dev tokens are accepted only on the local stage.")
        algorithm = "HS256" if settings.auth_mode == "hs256" else "RS256"
        key = self._signing_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=settings.jwt_issuer,
                # The audience is checked below (Cognito access tokens carry client_id, not aud), and
                # `sub` with the other claims in principal_from_claims, so each error names its claim.
                options={"require": ["exp", "sub", "iss"], "verify_aud": False, "verify_sub": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The token is not valid: {exc}.") from exc
        self._check_client(claims)
        return claims

    def _check_client(self, claims: dict[str, Any]) -> None:
        """The token was issued to one of our app clients, for a use we accept. A pool serves several
        app clients; a token another client obtained must not work here."""
        settings = self._settings
        name = "aud"
        if settings.auth_mode == "jwks":
            use = claims.get("token_use")
            if not isinstance(use, str) or use not in settings.jwt_token_use:
                accepted = ", ".join(settings.jwt_token_use)
                raise claim_error("token_use", f"one of: {accepted}")
            if use == "access":
                name = "client_id"
        elif not settings.jwt_audience:
            return  # dev tokens: the audience is checked only when one is configured
        value = claims.get(name)
        # RFC 7519 lets `aud` be a list; Cognito sends one string.
        values = value if isinstance(value, list) and name == "aud" else [value]
        if not any(isinstance(v, str) and v in settings.jwt_audience for v in values):
            raise claim_error(name, "one of this API's app client ids")


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("A bearer token is required (Authorization: Bearer <token>).")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def claim_error(claim: str, expected: str) -> Unauthenticated:
    return Unauthenticated(f"The token's {claim!r} claim must be {expected}.", details={"claim": claim})


def principal_from_claims(claims: dict[str, Any], settings: Settings) -> Principal:
    """The caller, from verified claims whose types are checked strictly: a malformed claim is the
    token's fault (401 naming it), never a 500. Groups that are not our roles are ignored."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip() or len(sub) > MAX_SUB_LENGTH:
        raise claim_error("sub", f"a non-empty string of at most {MAX_SUB_LENGTH} characters")
    groups = claims.get(settings.groups_claim)
    if groups is None:
        groups = []
    # Cognito always sends a list; a string ("admin staff") is refused rather than guessed at.
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise claim_error(settings.groups_claim, "a list of strings")
    roles = frozenset(Role(g) for g in groups if g in Role._value2member_map_)
    ignored = sorted({g for g in groups if g not in Role._value2member_map_})
    if ignored:
        logger.info("token groups ignored", extra={"ignoredGroups": [g[:64] for g in ignored[:20]]})
    if not roles:
        raise Forbidden("The token carries no role this service knows (staff, engineer, admin, ingest).")
    workspace = claims.get(settings.workspace_claim)
    if workspace is not None and (not isinstance(workspace, str) or len(workspace) > MAX_WORKSPACE_LENGTH):
        raise claim_error(settings.workspace_claim, f"a string of at most {MAX_WORKSPACE_LENGTH} characters")
    return Principal(sub=sub, workspace_id=workspace or None, roles=roles)


def authenticate(authorization: str | None, verifier: TokenVerifier, settings: Settings) -> Principal:
    claims = verifier.verify(bearer_token(authorization))
    return principal_from_claims(claims, settings)


def mint_dev_token(
    settings: Settings,
    *,
    role: str,
    workspace_id: str | None,
    sub: str | None = None,
    ttl_seconds: int = 12 * 3600,
    now: float | None = None,
) -> str:
    """An HS256 token for the local stage and tests, with the same claims a Cognito ID token gives."""
    if settings.auth_mode != "hs256" or settings.stage != LOCAL_STAGE:
        raise ValueError("Dev tokens exist only on the local stage with AUTH_MODE=hs256.")
    Role(role)  # raises ValueError for an unknown role
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": sub or f"dev-{role}-{workspace_id or 'all'}",
        "iss": settings.jwt_issuer,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "token_use": "id",
        settings.groups_claim: [role],
    }
    if workspace_id:
        claims[settings.workspace_claim] = workspace_id
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience[0]
    return jwt.encode(claims, settings.dev_token_secret, algorithm="HS256")
