"""The job contract (workbench/jobs.py): progress, ETA, stop between chunks, pause, observers,
irun, failures that keep what was recorded, and the run record's status."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from workbench.jobs import FunctionJob, Job, Worker


class Counter(Job):
    """Counts to ``n``, one unit per chunk; ``fail_at`` raises there."""

    def __init__(self, n: int, fail_at: int | None = None, gate: threading.Event | None = None):
        super().__init__(unit="tick", total=n)
        self.n, self.fail_at, self.gate, self.seen = n, fail_at, gate, []

    def _work(self):
        for i in range(1, self.n + 1):
            if self.gate is not None:
                self.gate.wait(5)
            if i == self.fail_at:
                raise ValueError(f"bad tick {i}")
            self.seen.append(i)
            self._advance(i)
            yield


def test_run_completes_with_progress_eta_and_observers():
    job, calls = Counter(10), []
    job.attach(lambda: calls.append(job.done), interval=3)
    job.run(progress=False)
    assert job.status == "completed" and job.message == "completed 10 ticks"
    assert job.done == 10 and job.fraction == 1.0 and job.eta == 0.0
    assert calls == [3, 6, 9]  # every third chunk, as ASE's attach(interval=3)


def test_irun_yields_after_every_chunk_and_stop_ends_between_chunks():
    job = Counter(10)
    for j in job.irun():
        if j.done == 4:
            j.stop()
    assert job.status == "stopped" and job.seen == [1, 2, 3, 4]
    assert job.message == "stopped after 4 ticks"


def test_abandoned_irun_marks_the_job_stopped():
    job = Counter(10)
    it = job.irun()
    next(it), next(it)
    it.close()
    assert job.status == "stopped" and job.done == 2


def test_failure_keeps_what_was_recorded_and_raises_in_the_caller():
    job = Counter(10, fail_at=5)
    with pytest.raises(ValueError, match="bad tick 5"):
        job.run(progress=False)
    assert job.status == "failed" and job.message == "ValueError: bad tick 5"
    assert job.seen == [1, 2, 3, 4] and job.done == 4


def test_background_start_pause_resume_stop_and_failure_not_raised():
    gate = threading.Event()
    job = Counter(1000, gate=gate)
    job.start()
    assert job.status == "running"
    gate.set()
    job.pause()
    for _ in range(500):
        if job.status == "paused":
            break
        threading.Event().wait(0.01)
    assert job.status == "paused"
    done = job.done
    threading.Event().wait(0.05)
    assert job.done == done  # nothing advances while paused
    job.resume()
    job.stop()
    assert job.status == "stopped" and job.wait(1)
    failing = Counter(3, fail_at=2)
    failing.start()
    failing.wait(5)
    assert failing.status == "failed" and isinstance(failing.error, ValueError)


def test_function_job_returns_its_result_and_marks_the_run_record(tmp_path):
    from workbench.registry import RunRegistry

    def work(job):
        for i in range(3):
            job.report(i + 1, 3)
            yield
        return "made"

    job = FunctionJob(work, unit="block")
    with RunRegistry(tmp_path) as registry:
        job.record = registry.create("simulation", {})
        job.run(progress=False)
        assert job.result == "made" and registry.get(job.record.id).status == "completed"


def test_worker_runs_tasks_in_order_and_cancels_the_queue_on_shutdown():
    worker, gate, order = Worker("test"), threading.Event(), []
    first = worker.submit(lambda: gate.wait(10) and order.append(1))
    second = worker.submit(lambda: order.append(2) or "two")
    failing = worker.submit(lambda: 1 / 0)
    gate.set()
    assert second.result(10) == "two" and order == [1, 2]
    with pytest.raises(ZeroDivisionError):
        failing.result(10)
    gate.clear()
    busy = worker.submit(lambda: gate.wait(10))
    queued = worker.submit(lambda: order.append(3))
    time.sleep(0.2)
    worker.shutdown()
    gate.set()
    assert busy.result(10) and queued.cancelled() and first.done() and order == [1, 2]
    with pytest.raises(RuntimeError, match="shut down"):
        worker.submit(lambda: None)


EXIT_WHILE_SIMULATING = """
import time
from workbench.fit import TuneSession
session = TuneSession(n_atoms=108, replicas=1)
session.make_target(n_steps=50_000_000)  # hours: only stopping it ends the process quickly
start = time.monotonic()
while session.done < 1 and time.monotonic() - start < 300:
    time.sleep(0.05)
print("running" if session.done >= 1 else "never started", flush=True)
"""


def test_interpreter_exit_stops_a_dashboard_task_within_seconds():
    # issue 11: `panel serve` took ~50 s to stop on SIGTERM while a Tune session's reference
    # simulation ran (the executor thread was joined before any hook could stop its job)
    proc = subprocess.Popen([sys.executable, "-c", EXIT_WHILE_SIMULATING],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "running"
    t0 = time.monotonic()
    assert proc.wait(timeout=120) == 0
    # the task ends after its current chunk (well under a second for 108 atoms); 10 s leaves
    # room for a loaded CI machine and the interpreter's own teardown of JAX
    assert time.monotonic() - t0 < 10.0
