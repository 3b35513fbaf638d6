"""One error shape for every section: the same mistake reads the same in each of them.

``<file>: <dotted.path>: <problem>; <fix>`` on one line, from the evaluator's own
sections, ``drift:``, ``alerts:`` and ``notifiers:`` alike (all parsed by
``load_config``, through the readers of ``otel_ml._config``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from otel_ml import ConfigurationError
from otel_ml.evaluator import load_config


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


@pytest.mark.parametrize(("raw", "path", "near"), UNKNOWN_KEY)
def test_unknown_key(tmp_path: Path, raw: dict[str, object], path: str, near: str) -> None:
    message = _error(tmp_path, raw)
    pattern = (
        rf"evaluator\.yaml: {re.escape(path)}: unknown key; did you mean '{near}'\? "
        r"valid keys: \w+(, \w+)*"
    )
    assert re.fullmatch(pattern, message), message


WRONG_TYPE = [
    ({"windows": {"min_rows": "lots"}}, "windows.min_rows"),
    ({"drift": {"alpha": "lots"}}, "drift.alpha"),
    ({"alerts": {"defaults": {"for_windows": "lots"}}}, "alerts.defaults.for_windows"),
    ({"notifiers": {"x": {"type": "webhook", "url": "http://a", "send_resolved": "lots"}}},
     "notifiers.x.send_resolved"),
]


@pytest.mark.parametrize(("raw", "path"), WRONG_TYPE)
def test_wrong_type(tmp_path: Path, raw: dict[str, object], path: str) -> None:
    message = _error(tmp_path, raw)
    pattern = rf"evaluator\.yaml: {re.escape(path)}: expected [^;]+, got 'lots'; [^;]+"
    assert re.fullmatch(pattern, message), message


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
