"""Server TLS settings: certificate, key and optionally a CA to require client certificates."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from otel_ml._config._values import config_error

__all__ = ["TlsOptions"]


@dataclass(frozen=True)
class TlsOptions:
    """Server certificate and key (PEM files); ``client_ca_file`` requires client certificates.

    Files are read at start-up; an unreadable or invalid file is a
    :class:`~otel_ml.ConfigurationError` naming ``tls.<field>``.
    """

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def _read(self, path: Path, what: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise config_error(f"tls.{what}", f"cannot read {path} ({exc.strerror})",
                               "check the path and its permissions") from None

    def pem(self) -> tuple[bytes, bytes, bytes | None]:
        """(certificate chain, private key, client CA or None) as PEM bytes."""
        ca = self._read(self.client_ca_file, "client_ca_file") if self.client_ca_file else None
        return self._read(self.cert_file, "cert_file"), self._read(self.key_file, "key_file"), ca

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side context (TLS 1.2+) for the HTTP receiver and the API."""
        self.pem()  # readable?
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
            if self.client_ca_file is not None:
                ctx.load_verify_locations(str(self.client_ca_file))
                ctx.verify_mode = ssl.CERT_REQUIRED
        except ssl.SSLError as exc:
            raise config_error("tls", f"the certificate or key is not valid PEM or they do not "
                               f"match ({exc})", "give the matching PEM files") from None
        return ctx
