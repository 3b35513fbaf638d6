"""MLflow URIs of reference profiles, parsed (no MLflow import).

Three forms are accepted wherever a profile path is:

- ``models:/<name>/<version>`` -- the profile of a registered model version;
- ``models:/<name>@<alias>`` -- the profile of the version an alias points to now
  (``champion``); the alias may move, the evaluator polls it;
- ``runs:/<run_id>/<artifact path>`` -- a profile artifact of a run: the JSON file itself,
  or the folder :func:`~otel_ml.mlflow.log_profile` wrote it to (``profile.json`` inside).

Examples
--------
>>> parse_uri("models:/credit_risk/3")
ProfileUri(text='models:/credit_risk/3', model='credit_risk', version='3', alias=None, \
run_id=None, artifact_path=None)
>>> parse_uri("models:/credit_risk@champion").alias
'champion'
>>> parse_uri("runs:/0a1b2c/otel_ml").artifact_path
'otel_ml/profile.json'
>>> parse_uri("models:/credit_risk")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ProfileError: models:/credit_risk: malformed MLflow URI: no version or alias; ...
>>> is_mlflow_uri("ref/credit_risk.profile.json"), is_mlflow_uri("models:/m/1")
(False, True)
>>> redact_credentials("API request to https://alice:s3cret@mlflow:5000/api failed")
'API request to https://***@mlflow:5000/api failed'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from otel_ml._errors import ProfileError

__all__ = ["PROFILE_FILE", "ProfileUri", "is_mlflow_uri", "parse_uri", "redact_credentials"]

#: The file name of a profile inside the artifact folder :func:`log_profile` writes to.
PROFILE_FILE = "profile.json"

_SCHEMES = ("models:", "runs:")
_FORMS = "models:/<name>/<version>, models:/<name>@<alias> or runs:/<run_id>/<path>"
_VERSION = re.compile(r"[1-9][0-9]*")
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_RUN_ID = re.compile(r"[A-Za-z0-9_-]+")
#: The user information of a URL (``user:password@``): MLflow sends it as basic auth.
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")


@dataclass(frozen=True)
class ProfileUri:
    """A parsed MLflow profile URI: a model version, a model alias, or a run artifact."""

    text: str
    model: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    artifact_path: str | None = None

    @property
    def movable(self) -> bool:
        """True for an alias: the version it names can change (the others never do)."""
        return self.alias is not None


def is_mlflow_uri(source: object) -> bool:
    """True when ``source`` is a string naming an MLflow URI rather than a file."""
    return isinstance(source, str) and source.startswith(_SCHEMES)


def redact_credentials(text: str, mask: str = "***@") -> str:
    """``text`` with the credentials of any URL in it (``user:password@``) replaced by
    ``mask``: a tracking URI may carry them (MLflow sends them as basic auth), and they must
    not reach a log, an error message, the outbox or a cache folder's name."""
    return _USERINFO.sub(mask, text)


def _malformed(text: str, problem: str) -> ProfileError:
    return ProfileError(f"{text}: malformed MLflow URI: {problem}; write {_FORMS}")


def parse_uri(text: str) -> ProfileUri:
    """Parse a ``models:/`` or ``runs:/`` URI; :class:`~otel_ml.ProfileError` when malformed."""
    if text.startswith("models:"):
        rest = text[len("models:"):]
        if not rest.startswith("/") or rest.startswith("//"):
            raise _malformed(text, "models: is followed by one slash and the model name")
        rest = rest[1:]
        if "@" in rest:
            name, alias = rest.rsplit("@", 1)
            if not name or "/" in name:
                raise _malformed(text, "no model name before '@'")
            if not _ALIAS.fullmatch(alias):
                raise _malformed(text, f"bad alias {alias!r}")
            return ProfileUri(text, model=name, alias=alias)
        name, _, version = rest.rpartition("/")
        if not name:
            raise _malformed(text, "no version or alias")
        if "/" in name:
            raise _malformed(text, "a model URI has no artifact path (use runs:/ for one)")
        if not _VERSION.fullmatch(version):
            raise _malformed(text, f"bad version {version!r} (a version number, or @alias)")
        return ProfileUri(text, model=name, version=version)
    if text.startswith("runs:"):
        rest = text[len("runs:"):]
        if not rest.startswith("/") or rest.startswith("//"):
            raise _malformed(text, "runs: is followed by one slash and the run id")
        run_id, _, path = rest[1:].partition("/")
        if not _RUN_ID.fullmatch(run_id):
            raise _malformed(text, f"bad run id {run_id!r}")
        path = path.strip("/")
        if not path:
            raise _malformed(text, "no artifact path after the run id")
        if ".." in path.split("/"):
            raise _malformed(text, "'..' in the artifact path (a path inside the run)")
        if not path.endswith(".json"):
            path = f"{path}/{PROFILE_FILE}"
        return ProfileUri(text, run_id=run_id, artifact_path=path)
    raise _malformed(text, "not a models:/ or runs:/ URI")

