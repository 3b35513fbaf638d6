"""The packages point one way (docs/architecture.md, "Layers"): a static check of every import.

Each ``otel_ml`` package may import only the packages below it. Imports under
``if TYPE_CHECKING:`` are annotations, not dependencies, and are not counted; imports
inside functions are (a lazy import is still a dependency). The run-time side (what a
model service really loads) is checked in a fresh interpreter by the import tests.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import otel_ml

PACKAGE = Path(otel_ml.__file__).parent

_BASE = {"_errors", "_version", "semconv", "_otlp_exporters"}
_CONFIG = {"config", "_config"}  # the one configuration reader, wherever it settles

#: package -> the otel_ml packages it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "_errors": set(),
    "_version": set(),
    "semconv": set(),
    "_progress": set(),
    "_config": {"_errors"},
    "_otlp_exporters": set(),
    "sketch": _BASE,
    "stats": _BASE | {"sketch"},
    # MLflow: log_profile and the one profile-source resolver (path or models:/ runs:/ URI)
    "mlflow": _BASE | {"sketch"},
    "instrumentation": _BASE | _CONFIG | {"sketch", "mlflow"},
    "report": _BASE | {"sketch", "stats"},
    "alerting": _BASE | _CONFIG,
    "evaluator": _BASE | _CONFIG | {"sketch", "stats", "report", "alerting", "mlflow"},
    "cli": _BASE | {"_progress", "sketch", "stats", "report", "mlflow"},
    "demo": _BASE | {"_progress", "sketch", "stats", "report", "instrumentation", "evaluator",
                     "alerting", "mlflow"},
}
# The top-level otel_ml/__init__.py is the public face of the SDK; it may name the others
# lazily (PEP 562), and is not a layer.
_TOP = "__init__"


def _package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    return rel[0] if rel else _TOP


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, otel_ml package) of every run-time import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "otel_ml":  # from otel_ml import semconv / monitor
                modules = [f"otel_ml.{a.name}" for a in node.names]
            else:
                modules = [node.module]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "otel_ml" and len(parts) > 1:
                yield node.lineno, parts[1]


def _violations() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _package_of(path)
        if source == _TOP or (path.parent == PACKAGE and source not in ALLOWED):
            continue
        allowed = ALLOWED.get(source)
        assert allowed is not None, f"{source}: a new package; give it a place in ALLOWED"
        for line, target in _imported(path):
            if target != source and target in ALLOWED and target not in allowed:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} -> {target}")
    return found


def test_packages_import_only_the_layers_below_them() -> None:
    assert _violations() == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("instrumentation", "stats"),
        ("sketch", "stats"),
        ("cli", "demo"),
        ("evaluator", "instrumentation"),
    ],
)
def test_the_check_sees_a_forbidden_import(tmp_path: Path, source: str, target: str) -> None:
    """The checker itself: an import of a higher layer, as it would be written, is found."""
    module = tmp_path / "m.py"
    module.write_text(f"def f():\n    from otel_ml.{target} import x\n", encoding="utf-8")
    assert [t for _, t in _imported(module)] == [target]
    assert target not in ALLOWED[source]


def _private_imports(package: str) -> list[str]:
    """Imports of another package's private modules (``otel_ml.x._y``) from ``package``.

    The private top-level modules (``otel_ml._errors``, ``_version``, ``_progress``) are the
    shared base every package may use.
    """
    found = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if parts[0] != "otel_ml" or len(parts) < 2:
                    continue  # `from otel_ml import x`: the top-level package's own names
                names = [a.name for a in node.names]
                private = len(parts) > 2 and parts[2].startswith("_")
                private |= (
                    len(parts) == 2
                    and not parts[1].startswith("_")
                    and any(n.startswith("_") for n in names)
                )
                if parts[0] == "otel_ml" and parts[1] != package and private:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.module}")
    return found


@pytest.mark.parametrize("package", ["demo", "cli"])
def test_the_demo_and_the_cli_use_only_public_names_of_other_packages(package: str) -> None:
    assert _private_imports(package) == []
