"""docs/alerting.md: its complete configuration parses, with every notifier type."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from otel_ml.alerting import NotifierType, parse_alerting_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"


def test_documented_configuration_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    yaml_text = block.group(1)
    # the documented secret files, made real under tmp_path
    for path in set(re.findall(r"\{file: (/[^}]+)\}", yaml_text)):
        local = tmp_path / Path(path).name
        local.write_text("R" * 32)
        yaml_text = yaml_text.replace(path, str(local))
    for var in set(re.findall(r"\{env: (\w+)\}", yaml_text)):
        monkeypatch.setenv(var, "https://hooks.example.org/secret" if "URL" in var else "s3cret")
    config = parse_alerting_config(yaml.safe_load(yaml_text))
    assert {n.type for n in config.notifiers} == set(NotifierType)
    assert config.rule_named("churn", "accuracy_low").threshold == 0.9  # type: ignore[union-attr]
    assert "label_coverage_low" not in {r.name for r in config.rules_for("churn")}
    assert "s3cret" not in repr(config)
