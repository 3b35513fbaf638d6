"""Process models: multiprocessing Pool workers deliver every call, whatever the start method.

A service configures otel_ml at import (as a module-level ``configure()`` does) and runs
its predictions in a ``Pool`` — started by fork, spawn or forkserver, with workers
reused for many tasks or replaced every few (``maxtasksperchild``). Workers end with
``os._exit``, which skips ``atexit``; every span, ``ml.prediction`` event and row count
must still reach the loopback receiver, exactly once.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sdk_otlp_receiver import http_receiver, number, run_app

from otel_ml import semconv

_APP = textwrap.dedent(
    """
    import multiprocessing as mp
    import sys

    import numpy as np
    import otel_ml

    cfg = otel_ml.configure(service_name="pool")

    @otel_ml.monitor(model="m", version="1")
    def predict(x):
        return x[:, 0]

    def task(i):
        predict(np.full((2, 3), float(i)))
        if sys.argv[3] == "shutdown":  # what users wrote to be exact: the worker lives on
            cfg.shutdown()
        return i

    if __name__ == "__main__":
        method, per_child = sys.argv[1], int(sys.argv[2]) or None
        pool = mp.get_context(method).Pool(2, maxtasksperchild=per_child)
        assert pool.map(task, range(12), chunksize=1) == list(range(12))
        pool.close()
        pool.join()
        predict(np.zeros((1, 3)))  # one call in the parent too
    """
)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize(
    ("per_child", "in_task"),
    [(0, "nothing"), (3, "nothing"), (0, "shutdown")],
    ids=["reused", "maxtasksperchild=3", "reused+shutdown-in-task"],
)
def test_pool_workers_deliver_every_call(
    tmp_path: Path, method: str, per_child: int, in_task: str
) -> None:
    app = tmp_path / "app.py"
    app.write_text(_APP, encoding="utf-8")
    with http_receiver() as (url, received):
        run_app([str(app), method, str(per_child), in_task], url)
        assert len(received.spans()) == 13
        assert len(received.prediction_calls()) == 13
        calls = [number(p) for _, _, p in received.metric_points(semconv.METRIC_PREDICT_CALLS)]
        rows = [number(p) for _, _, p in received.metric_points(semconv.METRIC_PREDICT_ROWS)]
        assert (sum(calls), sum(rows)) == (13, 25)


_FORKED_WORKERS = textwrap.dedent(
    """
    import os
    import sys

    import numpy as np
    import otel_ml

    cfg = otel_ml.configure(service_name="pre", prometheus_port=0)  # as under --preload

    @otel_ml.monitor(model="m", version="1")
    def predict(x):
        return x[:, 0]

    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:  # a worker: serves, then exits through sys.exit (atexit runs)
            for _ in range(5):
                predict(np.ones((1, 3)))
            sys.exit(0)
        children.append(pid)
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in children)
    """
)


def test_forked_workers_exiting_through_atexit_flush_and_leave_the_master_alone(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app.py"
    app.write_text(_FORKED_WORKERS, encoding="utf-8")
    with http_receiver() as (url, received):
        run_app([str(app)], url, timeout=60)  # stopping the master's server would hang
        assert len(received.spans()) == 10
        assert len(received.prediction_calls()) == 10
        calls = [number(p) for _, _, p in received.metric_points(semconv.METRIC_PREDICT_CALLS)]
        assert sum(calls) == 10
