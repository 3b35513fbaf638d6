"""Where a reference profile comes from: a Profile, a local file, or an MLflow URI.

:func:`load_profile` is the one entry every profile-taking option goes through
(``@monitor(reference=...)``, the instrumentors' references, the evaluator's
``references[].path``, ``otel-ml drift``). A path is read as it always was; an MLflow URI
(``models:/...``, ``runs:/...``) is resolved through the cache of :mod:`._resolve`, which is
the only thing that imports MLflow.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> from otel_ml.sketch import Profile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ref.json"
>>> Profile.from_data({"x": np.arange(5.0)}, model="m").save(path)
>>> load_profile(path).model, load_profile(str(path)).n_rows
('m', 5)
>>> load_profile("models:/m")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ProfileError: models:/m: malformed MLflow URI: no version or alias; ...
"""

from __future__ import annotations

import os

from otel_ml.mlflow._resolve import resolve_profile
from otel_ml.mlflow._uri import is_mlflow_uri
from otel_ml.sketch import Profile

__all__ = ["ProfileSource", "load_profile"]

#: What a profile option accepts: the profile, the path of a saved one, or an MLflow URI.
ProfileSource = Profile | str | os.PathLike[str]


def load_profile(
    source: ProfileSource,
    *,
    tracking_uri: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Profile:
    """The profile ``source`` names: itself, the file at a path, or an MLflow URI's artifact.

    Raises :class:`~otel_ml.ProfileError` naming the file or URI and the problem.
    """
    if isinstance(source, Profile):
        return source
    if is_mlflow_uri(source):
        assert isinstance(source, str)
        return resolve_profile(source, tracking_uri=tracking_uri, cache_dir=cache_dir).load()
    return Profile.load(source)
