"""Reading an HTTP/1.1 request body within a byte limit: ``Content-Length`` or chunked.

RFC 9112 §6: a request body is framed by ``Transfer-Encoding: chunked`` (what Node.js,
and so the OpenTelemetry JavaScript exporters, send when they stream a body) or by
``Content-Length``; with neither, the body is empty. Both at once, an unknown transfer
coding, or a malformed length or chunk is an error (:class:`BodyFramingError`, which
names the HTTP status), and the connection is closed after the answer.

The limit applies to the bytes on the wire, as they arrive: a declared length or a
chunk size that would cross it is refused before any of its data is read, so no more
than ``limit`` bytes of body are ever buffered. Chunk extensions are ignored and
trailer fields are read and dropped (each line, and their number, bounded).

Examples
--------
>>> import io
>>> from email.message import Message
>>> h = Message()
>>> h["Transfer-Encoding"] = "chunked"
>>> read_body(io.BytesIO(b"5;name=v\\r\\nhello\\r\\n0\\r\\nX-T: 1\\r\\n\\r\\n"), h, 1024)
b'hello'
>>> read_body(io.BytesIO(b"800\\r\\n"), h, 1024)
Traceback (most recent call last):
...
otel_ml.evaluator._http_body.BodyFramingError: 413 body exceeds 1024 bytes
"""

from __future__ import annotations

import re
from email.message import Message
from typing import Protocol

__all__ = ["BodyFramingError", "ClientGoneError", "read_body"]

#: Longest chunk-size line (size, extensions, CRLF) and trailer line accepted.
MAX_LINE = 4096
#: Most trailer fields read after the last chunk.
MAX_TRAILERS = 64

_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]{1,16})[ \t]*(?:;.*)?$")


class Reader(Protocol):
    """What the body is read from (a handler's ``rfile``)."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class BodyFramingError(Exception):
    """The body cannot be read as framed: answer ``status`` and close the connection.

    ``error_type`` is the bounded label counted on the receiver's self-metric.
    """

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.error_type = error_type


class ClientGoneError(Exception):
    """The connection ended before the whole body arrived (nobody to answer)."""


def _too_large(limit: int) -> BodyFramingError:
    return BodyFramingError(413, f"body exceeds {limit} bytes", "too_large")


def _malformed(what: str) -> BodyFramingError:
    return BodyFramingError(400, what, "bad_framing")


def read_body(rfile: Reader, headers: Message, limit: int) -> bytes:
    """The request body from ``rfile``, at most ``limit`` bytes.

    Raises :class:`BodyFramingError` (400, 413 or 501) and :class:`ClientGoneError`.
    """
    te = headers.get_all("Transfer-Encoding") or []
    cl = headers.get_all("Content-Length") or []
    if te:
        if cl:
            raise _malformed("both Transfer-Encoding and Content-Length are set")
        codings = [c.strip().lower() for v in te for c in str(v).split(",") if c.strip()]
        if codings != ["chunked"]:
            raise BodyFramingError(
                501, "only Transfer-Encoding: chunked is supported", "unsupported_transfer_coding"
            )
        return _read_chunked(rfile, limit)
    if not cl:
        return b""  # RFC 9112 §6.3: a request with neither has no body
    values = {str(v).strip() for v in cl}
    text = values.pop() if len(values) == 1 else ""
    if not (text.isascii() and text.isdigit()):
        raise _malformed("invalid Content-Length")
    if len(text) > len(str(limit)) or int(text) > limit:
        raise _too_large(limit)
    length = int(text)
    body = rfile.read(length)
    if len(body) < length:
        raise ClientGoneError
    return body


def _line(rfile: Reader, what: str) -> bytes:
    raw = rfile.readline(MAX_LINE + 1)
    if not raw:
        raise ClientGoneError
    if len(raw) > MAX_LINE:
        raise _malformed(f"{what} line longer than {MAX_LINE} bytes")
    if not raw.endswith(b"\n"):
        raise ClientGoneError  # the connection ended inside the line
    if not raw.endswith(b"\r\n"):
        raise _malformed(f"{what} line not terminated by CRLF")
    return raw[:-2]


def _read_chunked(rfile: Reader, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        m = _CHUNK_SIZE.match(_line(rfile, "chunk size"))
        if m is None:
            raise _malformed("invalid chunk size")
        size = int(m.group(1), 16)
        if size == 0:
            break
        if size > limit - total:
            raise _too_large(limit)  # before reading any of it
        data = rfile.read(size)
        if len(data) < size:
            raise ClientGoneError
        parts.append(data)
        total += size
        end = rfile.read(2)
        if len(end) < 2:
            raise ClientGoneError
        if end != b"\r\n":
            raise _malformed("chunk data not followed by CRLF")
    for _ in range(MAX_TRAILERS + 1):  # trailer fields: read and dropped
        if not _line(rfile, "trailer"):
            return b"".join(parts)
    raise _malformed(f"more than {MAX_TRAILERS} trailer fields")
