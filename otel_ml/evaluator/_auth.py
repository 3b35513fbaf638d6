"""Receiver security: bearer tokens (HTTP ``Authorization`` header, gRPC metadata) and TLS.

Secrets come from the environment or from files (a Kubernetes secret mount), or
inline for tests; they are held in :class:`Secret`, whose ``repr``/``str`` never show
the value, and are never logged. Several tokens may be valid at once (rotation).

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
>>> load_secret(env="OTEL_ML_DOC_UNSET", field="auth.token_env")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: auth.token_env: environment variable OTEL_ML_DOC_UNSET ...
"""

from __future__ import annotations

import hashlib
import hmac
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from otel_ml._errors import ConfigurationError

__all__ = ["BearerAuth", "Secret", "TlsOptions", "load_secret"]

_BEARER = "bearer "


@dataclass(frozen=True)
class Secret:
    """A secret string that does not show itself in ``repr``, ``str`` or logs.

    >>> Secret("hunter2")
    Secret('***')
    >>> Secret("hunter2").reveal()
    'hunter2'
    """

    _value: str = field(repr=False)

    def reveal(self) -> str:
        """The secret itself (only where it is used, never for display)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def load_secret(
    *, value: str | None = None, env: str | None = None, file: str | Path | None = None,
    field: str = "token",
) -> Secret:
    """Read exactly one of an inline ``value``, an environment variable ``env`` or a ``file``.

    A file's content is stripped of surrounding whitespace (a trailing newline is
    usual). Errors name ``field`` and the fix, never the secret.
    """
    given = [x for x in (value, env, file) if x is not None]
    if len(given) != 1:
        raise ConfigurationError(
            f"{field}: give exactly one of an inline value, an environment variable or a file"
        )
    if value is not None:
        secret = value
    elif env is not None:
        secret = os.environ.get(env, "")
        if not secret.strip():
            raise ConfigurationError(
                f"{field}: environment variable {env} is not set or empty; "
                "export it, or use token_file"
            )
    else:
        path = Path(str(file))
        try:
            secret = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"{field}: cannot read secret file {path} ({exc.strerror}); "
                "check the path and its permissions"
            ) from None
    secret = secret.strip()
    if not secret:
        raise ConfigurationError(f"{field}: the secret is empty")
    if any(c.isspace() for c in secret):
        raise ConfigurationError(f"{field}: a bearer token cannot contain whitespace")
    return Secret(secret)


class BearerAuth:
    """Checks ``Authorization: Bearer <token>`` against one or more accepted tokens.

    Comparison is in constant time over SHA-256 digests (no length or prefix leak).
    """

    def __init__(self, tokens: Iterable[Secret]) -> None:
        self._digests = tuple(hashlib.sha256(t.reveal().encode()).digest() for t in tokens)
        if not self._digests:
            raise ConfigurationError("auth: at least one bearer token is required")

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
        return cls([load_secret(value=token, env=env, file=file, field=field)])

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


@dataclass(frozen=True)
class TlsOptions:
    """Server certificate and key (PEM files); optionally a CA to require client certificates.

    Files are read at start-up; an unreadable file is a :class:`ConfigurationError`.
    """

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def _read(self, path: Path, what: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"tls.{what}: cannot read {path} ({exc.strerror}); check the path"
            ) from None

    def pem(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, private key, client CA or None) as PEM bytes."""
        ca = self._read(self.client_ca_file, "client_ca_file") if self.client_ca_file else None
        return self._read(self.cert_file, "cert_file"), self._read(self.key_file, "key_file"), ca

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context (TLS 1.2+) for the HTTP receiver."""
        self.pem()  # readable?
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
            if self.client_ca_file is not None:
                ctx.load_verify_locations(str(self.client_ca_file))
                ctx.verify_mode = ssl.CERT_REQUIRED
        except ssl.SSLError as exc:
            raise ConfigurationError(
                f"tls: the certificate or key is not valid PEM or they do not match ({exc})"
            ) from None
        return ctx
