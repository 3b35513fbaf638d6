"""Profiling a table that lives on disk: pandas in chunks, Dask and Spark.

Run from the repository root with the project's venv (``./dev setup`` installs pyspark
and dask; Spark needs a Java runtime)::

    .venv/bin/python benchmarks/engines_bench.py                  # 10,000,000 rows
    .venv/bin/python benchmarks/engines_bench.py --rows 1000000   # a shorter run

The script writes a table of ``--rows`` rows x 25 columns (20 numeric: normal,
log-normal and integer; 5 categorical: text of 20 to 200 values) as Parquet files of
1,000,000 rows each in a temporary folder, then profiles it once per engine, each in a
fresh Python process so that memory is measured alone:

* ``pandas``: one Parquet row group at a time (pyarrow), ``Profile.from_data`` per chunk
  and ``Profile.merge`` -- the in-memory path, bounded by the chunk;
* ``dask``: ``dd.read_parquet`` and ``Profile.from_data`` on it (local threaded
  scheduler, 2 workers: the machine's cores);
* ``spark``: ``spark.read.parquet`` and ``Profile.from_data`` on it (``local[2]``);
* ``whylogs``: whylogs' Spark integration (``collect_dataset_profile_view``) on the same
  Spark set-up, run from ``benchmarks/.venv-engines-whylogs`` (git-ignored; whylogs'
  Spark extra wants pyspark 3, pandas 2 and an old pyarrow built for numpy 1, so it has
  its own venv: ``python -m venv`` it, then ``pip install -e . 'whylogs[spark]>=1.6,<2'
  'pandas<3' 'numpy<2'``; about 6 minutes here, pyspark's sdist being built); left out
  when that venv is missing.

Per engine: wall time, rows per second, the peak resident memory of the driver
(the Python process that called ``from_data``: ``VmHWM``) and, for Spark, of the
JVM it started (driver and executors in local mode, ``VmHWM``). The three profiles are
checked to be equal (numeric sketches field by field, sums to 1e-9 relative).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

N_NUMERIC = 20
N_CATEGORICAL = 5
FILE_ROWS = 1_000_000


def write_table(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(12)
    done = 0
    part = 0
    while done < rows:
        n = min(FILE_ROWS, rows - done)
        cols: dict[str, Any] = {}
        for i in range(N_NUMERIC):
            if i % 3 == 0:
                cols[f"num_{i}"] = rng.normal(i, 1 + i, n)
            elif i % 3 == 1:
                cols[f"num_{i}"] = rng.lognormal(3, 1, n)
            else:
                cols[f"num_{i}"] = rng.integers(0, 10_000, n)
        for j in range(N_CATEGORICAL):
            levels = np.array([f"level_{k}" for k in range(20 + 45 * j)])
            cols[f"cat_{j}"] = levels[rng.integers(0, levels.size, n)]
        pq.write_table(pa.table(cols), folder / f"part-{part:04d}.parquet", row_group_size=250_000)
        done += n
        part += 1


def _peak_kib(pid: int | str) -> int:
    """A process's peak resident memory (``VmHWM``; unlike ``ru_maxrss`` it does not
    carry the parent's peak across ``exec``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_engine(engine: str, folder: Path) -> dict[str, Any]:
    """Profile the table with ``engine`` in this process; the numbers as a dict."""
    from otel_ml.sketch import Profile

    out: dict[str, Any] = {"engine": engine}
    if engine == "pandas":
        import pandas  # noqa: F401  (imported before the clock starts, as for Dask)
        import pyarrow.parquet as pq

        start = time.perf_counter()
        profile = None
        for path in sorted(folder.glob("*.parquet")):
            f = pq.ParquetFile(path)
            for g in range(f.num_row_groups):
                part = Profile.from_data(f.read_row_group(g).to_pandas())
                profile = part if profile is None else profile.merge(part)
        assert profile is not None
    elif engine == "dask":
        import dask
        import dask.dataframe as dd

        dask.config.set(scheduler="threads", num_workers=2)
        start = time.perf_counter()
        profile = Profile.from_data(dd.read_parquet(str(folder)))
    else:  # "spark", or "whylogs": whylogs' own Spark integration on the same session
        from pyspark.sql import SparkSession

        os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("otel-ml-bench")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        start = time.perf_counter()
        table = spark.read.parquet(str(folder))
        if engine == "whylogs":
            from whylogs.api.pyspark.experimental import collect_dataset_profile_view

            view = collect_dataset_profile_view(input_df=table)
            out["seconds"] = time.perf_counter() - start
            out["rows"] = int(view.get_column("num_0").to_summary_dict()["counts/n"])
            profile = None
        else:
            profile = Profile.from_data(table)
            out["seconds"] = time.perf_counter() - start
        out["jvm_peak_mib"] = _peak_kib(spark.sparkContext._gateway.proc.pid) / 1024
        spark.stop()
    out.setdefault("seconds", time.perf_counter() - start)
    out["driver_peak_mib"] = _peak_kib("self") / 1024
    if profile is not None:
        out["rows"] = profile.n_rows
        out["profile"] = profile.to_dict()
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import math

    if [f["name"] for f in a["features"]] != [f["name"] for f in b["features"]]:
        return False
    for fa, fb in zip(a["features"], b["features"], strict=True):
        sa, sb = dict(fa["sketch"]), dict(fb["sketch"])
        if "sum" in sa and not math.isclose(sa.pop("sum"), sb.pop("sum"), rel_tol=1e-9):
            return False
        if sa != sb:
            return False
    return a["n_rows"] == b["n_rows"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--engines", default="pandas,dask,spark,whylogs")
    ap.add_argument(
        "--whylogs-python",
        default=str(Path(__file__).resolve().parent / ".venv-engines-whylogs" / "bin" / "python"),
        help="interpreter with whylogs[spark] and this project installed (a venv of its own: "
        "whylogs wants pyspark 3 and pandas 2); its engine is left out when it is missing",
    )
    ap.add_argument("--folder", help=argparse.SUPPRESS)  # internal: run one engine here
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_engine(args.one, Path(args.folder))))
        return
    with tempfile.TemporaryDirectory(prefix="otel-ml-engines-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_table(folder, args.rows)
        print(f"wrote {args.rows:,} rows x {N_NUMERIC + N_CATEGORICAL} columns as Parquet "
              f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        results = []
        for engine in args.engines.split(","):
            python = sys.executable
            if engine == "whylogs":
                python = args.whylogs_python
                if not Path(python).exists():
                    print(f"whylogs: left out, no {python}", file=sys.stderr)
                    continue
            done = subprocess.run(
                [python, __file__, "--one", engine, "--folder", str(folder)],
                capture_output=True, text=True, check=False,
            )
            if done.returncode != 0:
                print(f"{engine}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{engine}: {results[-1]['seconds']:.1f} s", file=sys.stderr)
    first = results[0].get("profile") if results else None
    print(f"\n{args.rows:,} rows x {N_NUMERIC + N_CATEGORICAL} columns "
          f"({N_NUMERIC} numeric, {N_CATEGORICAL} categorical), Parquet on local disk\n")
    print("| engine | seconds | rows/s | driver peak RSS (MiB) | JVM peak RSS (MiB) "
          "| equal to pandas |")
    print("|---|---:|---:|---:|---:|---|")
    for r in results:
        jvm = f"{r['jvm_peak_mib']:.0f}" if "jvm_peak_mib" in r else "-"
        same = "-" if "profile" not in r else (
            "yes" if first is not None and _same(first, r["profile"]) else "NO"
        )
        print(f"| {r['engine']} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} "
              f"| {r['driver_peak_mib']:.0f} | {jvm} | {same} |")


if __name__ == "__main__":
    main()
