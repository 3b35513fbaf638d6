"""`otel-ml profile` and `otel-ml drift` end to end on real files."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from otel_ml.cli import main
from otel_ml.sketch import FeatureKind, NumericSketch, Profile
from otel_ml.stats import estimate_performance


def _write_csv(path: Path, columns: dict[str, list[object]]) -> Path:
    names = list(columns)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows(zip(*(columns[n] for n in names), strict=True))
    return path


def _data(n: int, seed: int, *, shift: float = 0.0) -> dict[str, list[object]]:
    rng = np.random.default_rng(seed)
    return {
        "age": list(np.round(rng.normal(40 + shift * 10, 10, n), 1)),
        "income": list(np.round(rng.lognormal(10, 0.5, n), 2)),
        "city": list(rng.choice(["paris", "oslo", "rome"], n, p=[0.5, 0.3, 0.2])),
        "visits": list(rng.poisson(3, n)),
    }


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    train = _write_csv(tmp_path / "train.csv", _data(4000, 1))
    same = _write_csv(tmp_path / "same.csv", _data(3000, 2))
    shifted = _write_csv(tmp_path / "shifted.csv", _data(3000, 3, shift=0.5))
    profile = tmp_path / "profile.json"
    assert main(["profile", str(train), "-o", str(profile), "--model", "m"]) == 0
    return {"train": train, "same": same, "shifted": shifted, "profile": profile}


def test_profile_writes_a_loadable_profile_and_prints_a_summary(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    p = Profile.load(files["profile"])
    assert list(p.features) == ["age", "income", "city", "visits"]
    assert p.features["city"].kind is FeatureKind.CATEGORICAL
    assert p.features["visits"].kind is FeatureKind.NUMERIC
    assert p.model == "m" and p.n_rows == 4000
    main(["profile", str(files["train"]), "-o", str(files["profile"])])
    out = capsys.readouterr().out
    assert re.search(r"city\s+categorical\s+0\.0%\s+3 categories", out)
    assert "4 features, 4,000 rows" in out


def test_drift_exit_codes_and_table(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["drift", str(files["profile"]), str(files["same"])]) == 0
    out = capsys.readouterr().out
    assert "no drift in 4 features" in out and "DRIFT" not in out
    assert main(["drift", str(files["profile"]), str(files["shifted"])]) == 1
    out = capsys.readouterr().out
    first = out.splitlines()[2]  # drifted features come first
    assert first.startswith("age") and first.rstrip().endswith("DRIFT")
    assert "DRIFT in 1 of 4 features" in out


def test_drift_json_is_the_machine_readable_report(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["drift", str(files["profile"]), str(files["shifted"]), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "otel_ml.drift_report" and doc["drifted"] is True
    by_name = {f["feature"]: f for f in doc["features"]}
    assert by_name["age"]["drifted"] and not by_name["city"]["drifted"]
    assert by_name["age"]["statistic"] > by_name["age"]["threshold"]
    assert (
        by_name["city"]["kind"] == "categorical"
        and "total_variation" in by_name["city"]["statistics"]
    )
    assert doc["policy"]["min_rows"] > 0
    # The documented keys (docs/cli.md) stay: scripts read them.
    assert list(doc)[:12] == [
        "format", "format_version", "profile", "current", "drifted", "n_features",
        "n_drifted", "missing_features", "extra_features", "policy", "features", "predictions",
    ]  # fmt: skip
    assert list(by_name["age"]) == [
        "feature", "kind", "drifted", "method", "statistic", "threshold", "test", "p_value",
        "n_reference", "n_current", "reason", "statistics", "verdict", "alpha",
    ]  # fmt: skip
    # Graded verdicts (docs/cli.md): "drift" exactly when drifted, and the level used.
    assert by_name["age"]["verdict"] == "drift" and by_name["age"]["alpha"] == 0.01 / 4
    assert by_name["city"]["verdict"] in ("minor", "none")
    assert doc["n_minor"] == sum(f["verdict"] == "minor" for f in doc["features"])
    assert {"numeric_effect", "numeric_threshold", "categorical_effect", "categorical_test",
            "categorical_threshold", "alpha", "correction", "min_rows"} <= set(doc["policy"])


def test_drift_policy_options_change_the_verdict(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["drift", str(files["profile"]), str(files["shifted"])]
    assert main([*args, "--numeric-threshold", "5"]) == 0
    assert main([*args, "--min-rows", "100000"]) == 0
    assert main([*args, "--alpha", "0.05"]) == 1
    capsys.readouterr()
    assert main([*args, "--alpha", "2"]) == 2
    _one_line_error(capsys, "--alpha: must be in (0, 1)")


def test_drift_html_is_one_self_contained_file_with_a_plot_per_feature(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["drift", str(files["profile"]), str(files["shifted"]), "--html", str(out)]) == 1
    html = out.read_text()
    # a plot per feature, and the multivariate check's reconstruction errors
    assert html.count("<svg") == 4 + 1 and "<script" not in html
    assert html.count("http") == html.count("http://www.w3.org/2000/svg")
    assert 'class="card alert"' in html and "shifted.csv" in html
    assert html.count("missing: reference / current") == 4
    assert f"wrote {out}" in capsys.readouterr().out


def test_prediction_column_is_compared_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    train = {**_data(2000, 1), "score": list(rng.uniform(0, 1, 2000).round(3))}
    today = {**_data(2000, 2), "score": list(rng.uniform(0.3, 1, 2000).round(3))}
    prof, cur = tmp_path / "p.json", _write_csv(tmp_path / "today.csv", today)
    args = ["profile", str(_write_csv(tmp_path / "t.csv", train)), "-o", str(prof)]
    assert main([*args, "--prediction", "score"]) == 0
    assert "score" not in Profile.load(prof).features
    capsys.readouterr()
    assert main(["drift", str(prof), str(cur), "--prediction", "score"]) == 0  # inputs: no drift
    assert "model output 'score': drift" in capsys.readouterr().out
    assert main(["drift", str(prof), str(cur), "--prediction", "nope"]) == 2


def test_parquet_current_data(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = _data(3000, 3, shift=0.5)
    pq.write_table(
        pa.table(
            {
                k: pa.array([x.item() if hasattr(x, "item") else x for x in v])
                for k, v in cols.items()
            }
        ),
        tmp_path / "cur.parquet",
    )
    args = ["drift", str(files["profile"]), str(tmp_path / "cur.parquet"), "--progress"]
    assert main(args) == 1
    assert "cur.parquet: 100% (3,000/3,000 rows)" in capsys.readouterr().err


def test_profile_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_csv(
        tmp_path / "d.csv",
        {"id": [1, 2, 3], "zip": ["00501", "10001", "00501"], "x": [1, 2, 3], "y": [0, 1, 1]},
    )
    out = tmp_path / "p.json"
    args = ["profile", str(data), "-o", str(out), "--exclude", "id", "--categorical", "zip"]
    assert main([*args, "--label", "y", "--numeric", "x"]) == 0
    p = Profile.load(out)
    assert list(p.features) == ["zip", "x"]
    assert p.features["zip"].categories == {"00501", "10001"}
    assert p.labels is not None and p.labels.kind is FeatureKind.NUMERIC
    # The drift side reads a categorical column as text too: "00501" stays "00501".
    big = _write_csv(tmp_path / "big.csv", {"zip": ["00501", "10001"] * 100, "x": list(range(200))})
    assert main(["profile", str(big), "-o", str(out), "--categorical", "zip"]) == 0
    capsys.readouterr()
    main(["drift", str(out), str(big), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["features"][0]["feature"] == "zip" and doc["features"][0]["statistic"] == 0.0


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_bad_input_gives_one_line_errors_and_exit_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prof, cur = str(files["profile"]), str(files["same"])
    capsys.readouterr()

    assert main(["drift", prof, str(tmp_path / "missing.csv")]) == 2
    _one_line_error(capsys, "missing.csv", "no such file")

    assert main(["drift", str(tmp_path / "nope.json"), cur]) == 2
    _one_line_error(capsys, "nope.json", "cannot read profile")

    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "otel_ml.profile", "format_version": 1, "features": [{')
    assert main(["drift", str(corrupt), cur]) == 2
    _one_line_error(capsys, "corrupt.json", "not valid JSON")

    not_profile = tmp_path / "other.json"
    not_profile.write_text('{"hello": 1}')
    assert main(["drift", str(not_profile), cur]) == 2
    _one_line_error(capsys, "other.json", "not an otel_ml profile")

    other = _write_csv(tmp_path / "other.csv", {"a": [1, 2], "b": [3, 4]})
    assert main(["drift", prof, str(other)]) == 2
    _one_line_error(capsys, "other.csv", "none of the 4 columns", "'age'")

    partial = _write_csv(
        tmp_path / "partial.csv", {k: v for k, v in _data(500, 5).items() if k != "city"}
    )
    assert main(["drift", prof, str(partial)]) == 2
    _one_line_error(capsys, "partial.csv", "missing column(s) 'city'")
    assert main(["drift", prof, str(partial), "--ignore-missing"]) == 0
    assert "missing (not compared): 'city'" in capsys.readouterr().out

    cols = _data(500, 6)
    cols["age"][17] = "unknown"
    text_in_numeric = _write_csv(tmp_path / "text.csv", cols)
    assert main(["drift", prof, str(text_in_numeric)]) == 2
    _one_line_error(capsys, "text.csv", "line 19", "'age'", "'unknown'", "numeric")

    assert main(["drift", prof, cur, "--html", str(tmp_path / "no" / "dir" / "r.html")]) == 2
    _one_line_error(capsys, "r.html", "cannot write")

    assert main(["profile", str(other), "-o", str(tmp_path / "p.json"), "--exclude", "zz"]) == 2
    _one_line_error(capsys, "other.csv", "no column 'zz'")

    assert (
        main(["profile", str(text_in_numeric), "-o", str(tmp_path / "p.json"), "--numeric", "age"])
        == 2
    )
    _one_line_error(capsys, "text.csv", "line 19", "'unknown'", "--numeric")

    header_only = tmp_path / "header.csv"
    header_only.write_text("age,income,city,visits\n")
    assert main(["drift", prof, str(header_only)]) == 2
    _one_line_error(capsys, "header.csv", "no data rows")
    assert main(["profile", str(header_only), "-o", str(tmp_path / "p.json")]) == 2
    _one_line_error(capsys, "header.csv", "no data rows")

    assert main(["profile", str(other), "-o", str(tmp_path / "no" / "p.json")]) == 2
    _one_line_error(capsys, "p.json", "cannot write profile")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["drift", "only-one-argument"])
    assert exc.value.code == 2
    assert main([]) == 2


def test_progress_only_when_asked_or_on_a_terminal(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    main(["drift", str(files["profile"]), str(files["same"])])
    assert capsys.readouterr().err == ""  # stderr is not a terminal here
    main(["drift", str(files["profile"]), str(files["same"]), "--progress"])
    err = capsys.readouterr().err
    assert re.search(r"reading .*same\.csv: 100% \(\d+ kB/\d+ kB\)", err)


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("otel-ml")
    proc = subprocess.run(
        [str(exe), "drift", str(tmp_path / "p.json"), str(tmp_path / "d.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "p.json" in proc.stderr


def test_html_escapes_column_names_and_categories_from_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Column names and category values come from the user's files: never markup."""
    from html.parser import HTMLParser

    evil_col, evil_cat = "<img src=x onerror=alert(1)>", "<script>alert(2)</script>"
    rng = np.random.default_rng(8)

    def cols(n: int, shift: float) -> dict[str, list[object]]:
        return {
            evil_col: list(np.round(rng.normal(shift, 1, n), 3)),
            "kind & co": list(rng.choice([evil_cat, "plain"], n)),
        }

    prof = tmp_path / "p.json"
    train = _write_csv(tmp_path / "t.csv", cols(2000, 0.0))
    assert main(["profile", str(train), "-o", str(prof)]) == 0
    out = tmp_path / "r.html"
    cur = _write_csv(tmp_path / "c.csv", cols(2000, 1.0))
    assert main(["drift", str(prof), str(cur), "--html", str(out)]) == 1
    html = out.read_text()

    seen: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            seen.append(tag)

    Tags().feed(html)
    assert "svg" in seen and "img" not in seen and "script" not in seen
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    assert f"<h3>{escaped}</h3>" in html  # the feature's card
    assert f"<td>{escaped}</td>" in html  # the summary table
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html and "kind &amp; co" in html


def test_too_few_rows_is_not_reported_as_no_drift(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Below --min-rows nothing can be concluded: say so rather than "no drift"."""
    tiny = _write_csv(tmp_path / "tiny.csv", _data(20, 9, shift=3.0))  # far off, but 20 rows
    out = tmp_path / "r.html"
    capsys.readouterr()
    assert main(["drift", str(files["profile"]), str(tiny), "--html", str(out)]) == 0
    text = capsys.readouterr().out
    assert "no drift found, but 4 of 4 features had too few rows to judge" in text
    assert "too few rows to judge (fewer than 100 on a side" in text
    assert "no drift in 4 features" not in text
    html = out.read_text()
    assert "had too few rows to judge</span>" in html and 'class="badge ok"' not in html
    assert main(["drift", str(files["profile"]), str(tiny), "--min-rows", "10"]) == 1


def test_an_error_message_holding_newlines_stays_on_one_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    odd = tmp_path / "two\nlines.csv"  # file names (and library messages) may hold newlines
    assert main(["drift", str(files["profile"]), str(odd)]) == 2
    _one_line_error(capsys, "two lines.csv: no such file")


def test_internal_errors_are_one_line_exit_70_and_debug_shows_the_traceback(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import otel_ml.stats

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(otel_ml.stats, "compare", broken)
    args = ["drift", str(files["profile"]), str(files["same"])]
    capsys.readouterr()
    assert main(args) == 70
    _one_line_error(capsys, "internal error RuntimeError: boom second line", "--debug")
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", *args])


def test_a_closed_stdout_ends_quietly_with_141(files: dict[str, Path]) -> None:
    """``otel-ml drift ... --json | head -c0``: no traceback, no 'Exception ignored'."""
    exe = Path(sys.executable).with_name("otel-ml")
    proc = subprocess.Popen(
        [str(exe), "drift", str(files["profile"]), str(files["shifted"]), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before anything was written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_estimated_performance_from_scores_without_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile built with --label and --prediction (calibrated scores) gives the current
    file's estimated performance: in --json, in the table and in --html; it matches the
    realised accuracy of the current rows (their labels are in the file, unused)."""
    rng = np.random.default_rng(8)

    def scored(n: int, a: float, b: float, seed: int) -> dict[str, list[object]]:
        p = rng.beta(a, b, n).round(4)
        return {**_data(n, seed), "score": list(p), "y": list((rng.random(n) < p).astype(int))}

    train, today = scored(20_000, 2, 2, 1), scored(3000, 3, 1.5, 2)
    prof, cur = tmp_path / "p.json", _write_csv(tmp_path / "today.csv", today)
    args = ["profile", str(_write_csv(tmp_path / "t.csv", train)), "-o", str(prof)]
    assert main([*args, "--prediction", "score", "--label", "y"]) == 0
    assert list(Profile.load(prof).calibration) == ["score"]
    capsys.readouterr()
    drift = ["drift", str(prof), str(cur), "--prediction", "score"]
    main([*drift, "--json"])
    doc = json.loads(capsys.readouterr().out)
    est = doc["estimated_performance"]
    # Each level is the one its p-value was held to: alpha over the features, and over
    # the prediction outputs (one here) for the prediction (docs/cli.md).
    assert {f["alpha"] for f in doc["features"]} == {0.01 / len(doc["features"])}
    assert [f["alpha"] for f in doc["predictions"]] == [0.01]
    assert set(est) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    p, y = np.array(today["score"], dtype=float), np.array(today["y"])
    realised = float(np.mean((p > 0.5) == (y == 1)))
    acc = est["accuracy"]
    assert acc["lower"] <= realised <= acc["upper"]
    assert acc["value"] == pytest.approx(float(np.mean(np.maximum(p, 1 - p))), abs=0.01)
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert set(est[name]) == {"value", "lower", "upper"}, name
    # A 1-D score column: the CLI also sketches 1 - score, so scores near 1 are read at
    # full resolution, as from predict_proba's two columns (docs/drift.md).
    sketches = {}
    for name, values in (("score", p), ("complement", 1 - p)):
        sketches[name] = NumericSketch()
        sketches[name].update(values)
    calibration = Profile.load(prof).calibration
    sharp = estimate_performance(calibration, {"score": sketches["score"]},
                                 complements={"score": sketches["complement"]})
    coarse = estimate_performance(calibration, {"score": sketches["score"]})
    assert sharp is not None and coarse is not None
    assert est["roc_auc"]["value"] == pytest.approx(sharp.roc_auc.value, abs=1e-12)
    assert est["roc_auc"]["value"] != pytest.approx(coarse.roc_auc.value, abs=1e-6)
    main(drift)
    out = capsys.readouterr().out
    assert "estimated performance without labels" in out
    assert re.search(r"accuracy\s+0\.\d+\s+0\.\d+ … 0\.\d+", out)
    html = tmp_path / "r.html"
    main([*drift, "--html", str(html)])
    assert "Estimated performance" in html.read_text()
    # Without a label in the profile: no estimate, and the JSON has no such key.
    plain = tmp_path / "plain.json"
    assert main([*args[:3], str(plain), "--prediction", "score"]) == 0
    capsys.readouterr()
    main(["drift", str(plain), str(cur), "--prediction", "score", "--json"])
    assert "estimated_performance" not in json.loads(capsys.readouterr().out)


def test_a_free_text_csv_column_is_profiled_by_its_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = [f"order {k}: the parcel arrived late and the box was damaged" for k in range(300)]
    data = _data(300, 5)
    train = _write_csv(tmp_path / "t.csv", {**data, "comment": notes})
    profile = tmp_path / "p.json"
    assert main(["profile", str(train), "-o", str(profile)]) == 0
    assert re.search(r"comment\s+text\s+0\.0%\s+text, 56 … 58 characters", capsys.readouterr().out)
    assert "parcel" not in profile.read_text(encoding="utf-8")
    longer = _write_csv(tmp_path / "c.csv", {**data, "comment": [n * 2 for n in notes]})
    assert main(["drift", str(profile), str(longer)]) == 1  # the lengths doubled
    # The kind is the reference's (text, as the evaluator reports it), not its length sketch's.
    assert re.search(r"comment\s+text\s.*DRIFT", capsys.readouterr().out)
    main(["drift", str(profile), str(longer), "--json"])
    (entry,) = [f for f in json.loads(capsys.readouterr().out)["features"]
                if f["feature"] == "comment"]
    assert entry["kind"] == "text" and entry["drifted"] is True


def test_multiclass_estimated_performance_from_class_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--prediction a,b,c names a multiclass model's probability columns (named by
    class): the profile keeps their calibrations, drift gives the macro estimate, whose
    band holds the current rows' realised accuracy (their labels unused)."""
    rng = np.random.default_rng(12)

    def scored(n: int, alpha: tuple[float, ...], seed: int) -> dict[str, list[object]]:
        z = rng.dirichlet(alpha, n).round(4)
        y = (rng.random(n)[:, None] > np.cumsum(z, axis=1)).sum(axis=1)
        cols = {c: list(z[:, i]) for i, c in enumerate("abc")}
        return {**_data(n, seed), **cols, "y": [str("abc"[int(i)]) for i in y]}

    train, today = scored(20_000, (1.0, 1.0, 1.0), 1), scored(3000, (2.0, 1.0, 0.5), 2)
    prof, cur = tmp_path / "p.json", _write_csv(tmp_path / "today.csv", today)
    args = ["profile", str(_write_csv(tmp_path / "t.csv", train)), "-o", str(prof)]
    assert main([*args, "--prediction", "a,b,c", "--label", "y"]) == 0
    reference = Profile.load(prof)
    assert sorted(reference.predictions) == ["a", "b", "c"]
    assert "argmax:c" in reference.calibration and "a" not in reference.features
    capsys.readouterr()
    drift = ["drift", str(prof), str(cur), "--prediction", "a,b,c"]
    main([*drift, "--json"])
    doc = json.loads(capsys.readouterr().out)
    est = doc["estimated_performance"]
    assert est["positive_class"] == "macro" and est["n_rows"] == 3000
    assert [f["feature"] for f in doc["predictions"]] == ["a", "b", "c"]
    p = np.array([today[c] for c in "abc"], dtype=float).T
    y = np.array(["abc".index(v) for v in today["y"]])
    realised = float(np.mean(p.argmax(axis=1) == y))
    assert est["accuracy"]["lower"] <= realised <= est["accuracy"]["upper"]
    main(drift)
    assert "estimated performance without labels" in capsys.readouterr().out
