"""One error shape for every section: the same mistake reads the same in each of them.

``<file>: <dotted.path>: <problem>; <fix>`` on one line, from the evaluator's own
sections, ``drift:``, ``alerts:`` and ``notifiers:`` alike (all parsed by
``load_config``, through the readers of ``otel_ml._config``), and
``<option>: <problem>; <fix>`` from the scikit-learn instrumentor's keywords and
environment variables (no file there).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from otel_ml import ConfigurationError
from otel_ml.evaluator import load_config
from otel_ml.instrumentation._sklearn_config import parse_config as parse_sklearn_config


def _error(tmp_path: Path, raw: dict[str, object]) -> str:
    file = tmp_path / "evaluator.yaml"
    file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigurationError) as info:
        load_config(file)
    message = str(info.value)
    assert "\n" not in message
    return message


UNKNOWN_KEY = [
    ({"windows": {"sise": "5m"}}, "windows.sise", "size"),
    ({"drift": {"alpah": 0.01}}, "drift.alpah", "alpha"),
    ({"alerts": {"rules": {"accuracy_low": {"treshold": 0.9}}}},
     "alerts.rules.accuracy_low.treshold", "threshold"),
    ({"notifiers": {"x": {"type": "webhook", "url": "http://a", "timout": "5s"}}},
     "notifiers.x.timout", "timeout"),
]



def _sklearn_error(kwargs: dict[str, object], env: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as info:
        parse_sklearn_config(kwargs, env)
    message = str(info.value)
    assert "\n" not in message
    return message


def _unknown_key_pattern(path: str, near: str) -> str:
    return rf"{re.escape(path)}: unknown key; did you mean '{near}'\? valid keys: \w+(, \w+)*"


@pytest.mark.parametrize(("raw", "path", "near"), UNKNOWN_KEY)
def test_unknown_key(tmp_path: Path, raw: dict[str, object], path: str, near: str) -> None:
    message = _error(tmp_path, raw)
    assert re.fullmatch(r"evaluator\.yaml: " + _unknown_key_pattern(path, near), message), message


def test_unknown_key_of_the_instrumentor() -> None:
    message = _sklearn_error({"feature_sample_rat": 0.5}, {})
    pattern = _unknown_key_pattern("instrument.feature_sample_rat", "feature_sample_rate")
    assert re.fullmatch(pattern, message), message


WRONG_TYPE = [
    ({"windows": {"min_rows": "lots"}}, "windows.min_rows"),
    ({"drift": {"alpha": "lots"}}, "drift.alpha"),
    ({"alerts": {"defaults": {"for_windows": "lots"}}}, "alerts.defaults.for_windows"),
    ({"notifiers": {"x": {"type": "webhook", "url": "http://a", "send_resolved": "lots"}}},
     "notifiers.x.send_resolved"),
]


def _wrong_type_pattern(path: str) -> str:
    return rf"{re.escape(path)}: expected [^;]+, got 'lots'; [^;]+"


@pytest.mark.parametrize(("raw", "path"), WRONG_TYPE)
def test_wrong_type(tmp_path: Path, raw: dict[str, object], path: str) -> None:
    message = _error(tmp_path, raw)
    assert re.fullmatch(r"evaluator\.yaml: " + _wrong_type_pattern(path), message), message


@pytest.mark.parametrize(
    ("kwargs", "env", "path"),
    [
        ({"capture_features": "lots"}, {}, "instrument.capture_features"),
        ({"feature_sample_rate": "lots"}, {}, "instrument.feature_sample_rate"),
        ({}, {"OTEL_ML_SKLEARN_PREDICTION_EVENTS": "lots"}, "OTEL_ML_SKLEARN_PREDICTION_EVENTS"),
        ({}, {"OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE": "lots"},
         "OTEL_ML_SKLEARN_FEATURE_SAMPLE_RATE"),
    ],
)
def test_wrong_type_for_the_instrumentor(
    kwargs: dict[str, object], env: dict[str, str], path: str
) -> None:
    message = _sklearn_error(kwargs, env)
    assert re.fullmatch(_wrong_type_pattern(path), message), message


MISSING_SECRET_FILE = [
    ({"auth": {"token_file": "missing.token"}}, "auth.token_file"),
    ({"notifiers": {"pd": {"type": "pagerduty", "routing_key": {"file": "missing.token"}}}},
     "notifiers.pd.routing_key"),
    ({"notifiers": {"mail": {"type": "email", "host": "h", "from": "a@b", "to": "c@d",
                             "username": "u", "password": {"file": "missing.token"}}}},
     "notifiers.mail.password"),
]


@pytest.mark.parametrize(("raw", "path"), MISSING_SECRET_FILE)
def test_missing_secret_file(tmp_path: Path, raw: dict[str, object], path: str) -> None:
    message = _error(tmp_path, raw)
    missing = re.escape(str(tmp_path / "missing.token"))  # relative to the file, everywhere
    pattern = (
        rf"evaluator\.yaml: {re.escape(path)}: cannot read secret file {missing} "
        r"\(No such file or directory\); check the path and its permissions"
    )
    assert re.fullmatch(pattern, message), message
