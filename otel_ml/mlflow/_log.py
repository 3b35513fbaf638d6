"""log_profile: a reference profile stored next to the model, as an MLflow artifact."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from otel_ml._errors import ConfigurationError, ProfileError
from otel_ml.mlflow._resolve import (
    DEFAULT_ARTIFACT_PATH,
    PROFILE_TAG,
    one_line,
    tracking_uri_or_default,
)
from otel_ml.mlflow._uri import PROFILE_FILE
from otel_ml.sketch import Profile

__all__ = ["log_profile"]


def _client(tracking_uri: str | None) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigurationError(
            f"log_profile needs MLflow ({exc}); pip install 'otel-ml[mlflow]'"
        ) from None
    uri = tracking_uri_or_default(tracking_uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def log_profile(
    profile: Profile,
    *,
    run_id: str | None = None,
    artifact_path: str = DEFAULT_ARTIFACT_PATH,
    model_name: str | None = None,
    model_version: str | int | None = None,
    tracking_uri: str | None = None,
) -> str:
    """Store ``profile`` as an MLflow artifact (``<artifact_path>/profile.json``) of a run.

    The run is ``run_id``, else the run of the registered model version ``model_name`` /
    ``model_version``, else the active run (``mlflow.start_run()``). The profile is stored
    with ``model_name`` and ``model_version`` as its model and version (when given), and a
    model version also gets the tag ``otel_ml.profile`` (the returned URI), which
    ``models:/`` URIs follow. Without the tag, ``models:/<name>/<version>`` reads
    ``otel_ml/profile.json`` of the version's run -- where this function puts it by default,
    so logging the profile in the training run before registering the model is enough.

    Parameters
    ----------
    profile
        The reference profile (:meth:`~otel_ml.Profile.from_data` of the training data).
    run_id
        The run to store it in (default: the model version's run, else the active run).
    artifact_path
        The artifact folder inside the run (default ``otel_ml``).
    model_name, model_version
        The registered model (and version) the profile belongs to.
    tracking_uri
        The tracking server (default: MLflow's, ``MLFLOW_TRACKING_URI``).

    Returns
    -------
    str
        The profile's ``runs:/<run_id>/<artifact_path>/profile.json`` URI.

    Raises :class:`~otel_ml.ConfigurationError` when there is no run to store it in or the
    arguments disagree, :class:`~otel_ml.ProfileError` when MLflow refuses the artifact.

    Examples
    --------
    At training time, in the run that logs and registers the model::

        import mlflow
        from otel_ml import Profile
        from otel_ml.mlflow import log_profile

        with mlflow.start_run():
            model.fit(X_train, y_train)
            mlflow.sklearn.log_model(model, name="model", registered_model_name="credit_risk")
            log_profile(Profile.from_data(X_train, predictions=model.predict_proba(X_train)),
                        model_name="credit_risk")

    Then ``@monitor(reference="models:/credit_risk@champion")`` in the service, and
    ``references: [{model: credit_risk, path: "models:/credit_risk@champion"}]`` in the
    evaluator's configuration. For a version registered earlier::

        log_profile(profile, model_name="credit_risk", model_version=3)
    """
    if not isinstance(profile, Profile):
        raise ConfigurationError(
            f"profile: expected an otel_ml Profile, got a {type(profile).__name__}; "
            "build one with Profile.from_data"
        )
    parts = artifact_path.strip("/").split("/")
    if not artifact_path.strip("/") or ".." in parts:
        raise ConfigurationError(
            f"artifact_path: {artifact_path!r} is not a folder inside the run; "
            f"use a relative path such as {DEFAULT_ARTIFACT_PATH!r}"
        )
    if model_version is not None and model_name is None:
        raise ConfigurationError(
            "model_version: given without model_name; pass the registered model's name too"
        )
    client = _client(tracking_uri)
    from mlflow.exceptions import MlflowException

    version = None if model_version is None else str(model_version)
    mv = None
    if model_name is not None and version is not None:
        try:
            mv = client.get_model_version(model_name, version)
        except MlflowException as exc:
            raise ConfigurationError(
                f"model_version: version {version} of registered model {model_name!r} "
                f"cannot be read ({one_line(str(exc), 200)}); register it first or "
                "fix the name and version"
            ) from None
    run = run_id or (mv.run_id if mv is not None and mv.run_id else None)
    if run is None:
        import mlflow

        active = mlflow.active_run()
        if active is None:
            raise ConfigurationError(
                "run_id: no run to store the profile in (no active MLflow run); call "
                "log_profile inside `with mlflow.start_run():`, or pass run_id=, or "
                "model_name= and model_version= of a registered version"
            )
        run = str(active.info.run_id)
    stamped = dataclasses.replace(
        profile,
        model=model_name if model_name is not None else profile.model,
        version=version if version is not None else profile.version,
    )
    folder = "/".join(p for p in parts if p)
    uri = f"runs:/{run}/{folder}/{PROFILE_FILE}"
    with tempfile.TemporaryDirectory(prefix="otel_ml-profile-") as tmp:
        local = Path(tmp) / PROFILE_FILE
        stamped.save(local)
        try:
            client.log_artifact(run, str(local), folder)
            if mv is not None:
                client.set_model_version_tag(model_name, version, PROFILE_TAG, uri)
        except MlflowException as exc:
            raise ProfileError(
                f"{uri}: MLflow refused the profile ({one_line(str(exc), 200)}); "
                "check the run id and the tracking server"
            ) from None
    return uri
