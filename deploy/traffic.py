"""Send the example applications to the model service, as a stream of small requests.

    python deploy/traffic.py --url http://model-service:8000/score \\
        --applications /artifacts/applications.csv --batch 20 --interval 0.5

Round 0 sends every application with its own ``case_id`` (the ids the label feeder
reports outcomes for); later rounds append ``-r<round>`` to the ids, so traffic goes on
without reusing prediction ids. Standard library only: the docker-compose `traffic`
service runs it in the model-service image.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

NUMERIC = ("age", "income", "debt_ratio")
INTEGER = ("credit_lines",)


def applications(path: Path, round_: int) -> Iterator[dict[str, object]]:
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            app: dict[str, object] = dict(row)
            for key in NUMERIC:
                app[key] = float(row[key])
            for key in INTEGER:
                app[key] = int(float(row[key]))
            if round_:
                app["case_id"] = f"{row['case_id']}-r{round_}"
            yield app


def post(url: str, batch: list[dict[str, object]], timeout: float) -> int:
    body = json.dumps({"applications": batch}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://model-service:8000/score")
    parser.add_argument("--applications", type=Path, default=Path("/artifacts/applications.csv"))
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between requests")
    parser.add_argument("--rounds", type=int, default=0, help="0: forever")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    round_ = 0
    while args.rounds == 0 or round_ < args.rounds:
        batch: list[dict[str, object]] = []
        sent = failed = 0
        for app in applications(args.applications, round_):
            batch.append(app)
            if len(batch) == args.batch:
                ok = post(args.url, batch, args.timeout) == 200
                sent, failed = sent + ok, failed + (not ok)
                batch = []
                time.sleep(args.interval)
        if batch:
            ok = post(args.url, batch, args.timeout) == 200
            sent, failed = sent + ok, failed + (not ok)
        print(f"round {round_}: {sent} requests ok, {failed} failed", file=sys.stderr, flush=True)
        round_ += 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
