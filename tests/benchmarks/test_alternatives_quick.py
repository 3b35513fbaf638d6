"""Quick, offline run of the otel_ml half of ``benchmarks/alternatives.py``.

Nothing is installed: whylogs and Evidently are marked unavailable, so their rows
must say why instead of leaving holes, and the otel_ml measurements run on tiny
data. Speed is not asserted (benchmarks measure it); what is checked is that every
table renders with its rows, the detection numbers mean what they say, and the
page section is replaced in place.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from _alternatives_detection import Plan, simulate  # noqa: E402
from _alternatives_speed import call_overhead, capture_throughput, drift_time  # noqa: E402
from _alternatives_tables import (  # noqa: E402
    BEGIN_MARKER,
    END_MARKER,
    Tools,
    render_section,
    replace_between_markers,
)

REASON = "not installed in the quick test"
PER_VALUE = re.compile(r"^[\d,.]+ ns$")


@pytest.fixture(scope="module")
def tools() -> Tools:
    return Tools.none(REASON)


def test_capture_rows(tools: Tools) -> None:
    table = capture_throughput(tools, rows=300, otel_rows=10, repeat=1)
    for label in ("otel_ml `NumericSketch.update` (baseline, numeric)",
                  "otel_ml `CategoricalSketch.update` (baseline, categorical)",
                  "otel_ml, all 25 features (baseline, table)",
                  "OTel SDK `Histogram.record` per value (default explicit buckets)",
                  "OTel SDK `Histogram.record` per value (exponential aggregation view)",
                  "OTel SDK `Counter.add` per categorical value (value as attribute)"):
        row = table.row(label)
        assert PER_VALUE.match(row[2]), row
    assert table.row("otel_ml, all 25 features (baseline, table)")[1] == "300 x 25"
    assert "negative" in table.row(
        "OTel SDK `Histogram.record` per value (default explicit buckets)")[4]
    missing = table.row("whylogs `why.log(DataFrame)`")
    assert missing[2] == "—" and REASON in missing[4]


def test_drift_time_rows(tools: Tools) -> None:
    table = drift_time(tools, reference_rows=2_000, current_rows=(200, 2_000), repeat=1)
    assert table.columns[1:] == ("2,000 vs 200 rows", "vs otel_ml",
                                 "2,000 vs 2,000 rows", "vs otel_ml")
    base = table.rows[0]
    assert base[0].startswith("otel_ml `compare(reference_profile, current_profile)`")
    assert base[2] == base[4] == "1.0x" and base[1].endswith("ms")
    assert table.rows[1][0].startswith("otel_ml `compare(reference_profile, raw current")
    assert REASON in table.rows[2][0] and table.rows[2][1:] == ("—",) * 4


def test_detection_tables(tools: Tools) -> None:
    plan = Plan(sizes=(1_000,), null_windows=(3,), shift_windows=(3,), report_checks=0,
                reference_rows=5_000, small_reference=(500, 2))
    null, shifts = simulate(tools, plan)
    ours = [r for r in null.rows if r[1].startswith("otel_ml")]
    assert [r[0] for r in ours] == ["1,000", "500 (reference of 500 rows)"]
    assert ours[0][-2].split(" (")[0].endswith("/ 15")  # 3 windows x 5 features
    assert all(REASON in r[2] for r in null.rows if r[1] == "Evidently")
    # 5 shifts x 1 size x 2 tools; a 0.5 sd mean shift at 1,000 rows is always caught.
    assert len(shifts.rows) == 10
    half_sd = next(r for r in shifts.rows if r[0] == "mean +0.5 sd" and r[2].startswith("otel"))
    assert half_sd[3:6] == ("**100.0 %**",) * 3  # normal, lognormal, count (bold = shifted)
    assert half_sd[6:] == ("(0.0 %)", "(0.0 %)")  # categoricals untouched


def test_overhead_rows_from_sdk_benchmark() -> None:
    table = call_overhead(quick=True)
    labels = [r[0] for r in table.rows]
    assert "undecorated call" in labels
    assert any(label.startswith("@monitor") for label in labels)
    assert any(label.startswith("bare span") for label in labels)
    assert all(re.search(r"\d", r[1]) for r in table.rows)


def test_page_section_replaced_in_place(tools: Tools) -> None:
    table = capture_throughput(tools, rows=100, otel_rows=5, repeat=1)
    body = render_section([table], "Command: `python benchmarks/alternatives.py`")
    assert "| otel_ml, all 25 features (baseline, table) | 100 x 25 |" in body
    doc = "# Benchmarks\n\n## Other\n\ntext\n"
    once = replace_between_markers(doc, body, "## Against the alternatives")
    twice = replace_between_markers(once, body.replace("100 x 25", "NEW"), "## Against")
    assert once.count(BEGIN_MARKER) == twice.count(BEGIN_MARKER) == 1
    assert twice.count(END_MARKER) == 1 and "NEW" in twice and "100 x 25 |" not in twice
    assert twice.startswith(doc.rstrip("\n")) and "## Against the alternatives" in twice


def test_committed_page_has_the_section() -> None:
    page = (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert BEGIN_MARKER in page and END_MARKER in page
    section = page[page.index(BEGIN_MARKER):page.index(END_MARKER)]
    for title in ("Feature capture throughput", "Drift computation time", "False alarms",
                  "Detection of known shifts", "Per-call overhead"):
        assert f"### {title}" in section


def test_failed_install_is_reported_in_the_table() -> None:
    import alternatives

    stderr = ("WARNING: Location 'file:///x/simple/whylogs/' is ignored: it is neither a file\n"
              "ERROR: Ignored the following versions that require a different python: 0.4\n"
              "ERROR: Could not find a version that satisfies the requirement whylogs==9 | x\n"
              "ERROR: No matching distribution found for whylogs==9\n")
    reason = alternatives._tail(stderr)
    assert "is ignored" not in reason and "Ignored the following" not in reason
    assert reason.endswith("No matching distribution found for whylogs==9")
    tools = Tools.load({"whylogs": reason, "evidently": reason})
    assert not tools.whylogs.available and not tools.evidently.available
    table = capture_throughput(tools, rows=100, otel_rows=5, repeat=1)
    cell = table.row("whylogs `why.log(DataFrame)`")[4]
    assert cell.startswith("not run: `pip install` failed:") and "|" not in cell
    assert "No matching distribution found for whylogs==9" in cell
