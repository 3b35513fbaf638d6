"""MLflow: reference profiles that travel with the model.

- :func:`log_profile` stores a :class:`~otel_ml.Profile` as an artifact of an MLflow run
  (the active one, a given one, or a registered model version's), with the model's name and
  version recorded in it.
- Wherever a profile path is accepted (``@monitor(reference=...)``, the instrumentors'
  references, the evaluator's ``references``, ``otel-ml drift``), an MLflow URI is accepted
  too: ``models:/credit_risk/3``, ``models:/credit_risk@champion``,
  ``runs:/<run_id>/otel_ml``. :func:`load_profile` reads any of them;
  :func:`resolve_profile` tells what a URI named (run, version) and where the local copy is.
- Resolved profiles are cached (``$OTEL_ML_CACHE_DIR``, default ``~/.cache/otel_ml``), keyed
  by the run and artifact path a URI resolved to: a run's or a version's profile is fetched
  once and read without the server afterwards; an alias is asked again each time.
- Credentials in a tracking URI (``https://user:password@host``) never reach a message, a
  log line or a cache folder's name (:func:`redact_credentials`).

This module does not import MLflow; only logging a profile or resolving a URI does (the
``otel-ml[mlflow]`` extra: ``mlflow-skinny``, the client alone). See docs/integrations.md.
"""

from otel_ml.mlflow._log import log_profile
from otel_ml.mlflow._resolve import (
    ENV_CACHE_DIR,
    PROFILE_TAG,
    ResolvedProfile,
    default_cache_dir,
    resolve_profile,
)
from otel_ml.mlflow._source import ProfileSource, load_profile
from otel_ml.mlflow._uri import ProfileUri, is_mlflow_uri, parse_uri, redact_credentials

__all__ = [
    "ENV_CACHE_DIR",
    "PROFILE_TAG",
    "ProfileSource",
    "ProfileUri",
    "ResolvedProfile",
    "default_cache_dir",
    "is_mlflow_uri",
    "load_profile",
    "log_profile",
    "parse_uri",
    "redact_credentials",
    "resolve_profile",
]
