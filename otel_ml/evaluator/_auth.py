"""Receiver security: bearer tokens (HTTP ``Authorization`` header, gRPC metadata) and TLS.

Tokens are :class:`otel_ml._config.Secret` values (from the environment, a file, or
inline for tests), never shown in ``repr``/``str`` and never logged. Several tokens may
be valid at once (rotation). ``Secret``, ``TlsOptions`` and ``load_secret`` are the
shared ones of ``otel_ml._config``, re-exported here.

Examples
--------
>>> import os
>>> os.environ["OTEL_ML_DOC_TOKEN"] = "s3cret"
>>> auth = BearerAuth.from_sources(env="OTEL_ML_DOC_TOKEN")
>>> auth
BearerAuth(1 token)
>>> auth.check("Bearer s3cret"), auth.check("bearer s3cret"), auth.check("Bearer nope")
(True, True, False)
>>> auth.check(None)
False
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from otel_ml._config import Secret, TlsOptions, config_error, load_secret

__all__ = ["BearerAuth", "Secret", "TlsOptions", "load_secret"]

_BEARER = "bearer "


class BearerAuth:
    """Checks ``Authorization: Bearer <token>`` against one or more accepted tokens.

    Comparison is in constant time over SHA-256 digests (no length or prefix leak).
    """

    def __init__(self, tokens: Iterable[Secret], *, field: str = "auth") -> None:
        secrets = tuple(tokens)
        if not secrets:
            raise config_error(field, "at least one bearer token is required", "give a token")
        if any(c.isspace() for t in secrets for c in t.reveal()):
            raise config_error(field, "a bearer token cannot contain whitespace",
                               "fix the token")
        self._digests = tuple(hashlib.sha256(t.reveal().encode()).digest() for t in secrets)

    @classmethod
    def from_sources(
        cls,
        *,
        token: str | None = None,
        env: str | None = None,
        file: str | Path | None = None,
        field: str = "auth",
    ) -> BearerAuth:
        """One token from an inline value, an environment variable or a file."""
        return cls([load_secret(value=token, env=env, file=file, field=field)], field=field)

    def check(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries an accepted bearer token."""
        if authorization is None or not authorization[: len(_BEARER)].lower() == _BEARER:
            return False
        digest = hashlib.sha256(authorization[len(_BEARER) :].strip().encode()).digest()
        ok = False
        for accepted in self._digests:
            ok |= hmac.compare_digest(digest, accepted)
        return ok

    def __repr__(self) -> str:
        n = len(self._digests)
        return f"BearerAuth({n} token{'s' if n != 1 else ''})"
