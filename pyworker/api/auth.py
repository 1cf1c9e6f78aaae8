"""Supabase access tokens: HS256 (project JWT secret) or RS256/ES256 (project JWKS).

The audience must be `authenticated`, `exp` is enforced, `iss` is checked when
SUPABASE_URL is set, and anything else (including `alg: none`) is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from pyworker.db import ApiError
from pyworker.settings import Secrets

AUDIENCE = "authenticated"
ASYMMETRIC = ("RS256", "ES256")
bearer = HTTPBearer(auto_error=False, description="Supabase access token")


@dataclass(frozen=True)
class CurrentUser:
    id: uuid.UUID
    email: str | None
    claims: dict[str, Any]


def _unauthorized(code: str, hint: str) -> ApiError:
    return ApiError(401, code, {}, hint)


class TokenVerifier:
    """Verifies Supabase access tokens with the configured secret and/or JWKS."""

    def __init__(self, secrets: Secrets) -> None:
        self.secret = secrets.supabase_jwt_secret
        self.jwks = (
            jwt.PyJWKClient(secrets.supabase_jwks_url) if secrets.supabase_jwks_url else None
        )
        url = secrets.supabase_url
        self.issuer = f"{url.rstrip('/')}/auth/v1" if url else None

    def _key(self, token: str) -> tuple[Any, str]:
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise _unauthorized("invalid_token", "The access token is malformed.") from exc
        if alg == "HS256" and self.secret:
            return self.secret, alg
        if alg in ASYMMETRIC and self.jwks:
            try:
                return self.jwks.get_signing_key_from_jwt(token).key, alg
            except jwt.PyJWTError as exc:  # unknown kid, unusable JWKS or a malformed token
                raise _unauthorized("invalid_token", "The token's signing key is unknown.") from exc
        raise _unauthorized("invalid_token", f"Tokens signed with {alg!r} are not accepted.")

    def verify(self, token: str) -> CurrentUser:
        key, alg = self._key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=AUDIENCE,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("token_expired", "The access token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise _unauthorized("invalid_token", f"The access token is invalid: {exc}.") from exc
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError as exc:
            raise _unauthorized("invalid_token", "The token's subject is not a user id.") from exc
        return CurrentUser(user_id, claims.get("email"), claims)


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> CurrentUser:
    """FastAPI dependency (sync: a JWKS fetch may block) for the signed-in user."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("not_authenticated", "Send `Authorization: Bearer <access token>`.")
    verifier: TokenVerifier = request.app.state.verifier
    return verifier.verify(credentials.credentials)
