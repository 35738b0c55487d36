"""The job contract (workbench/jobs.py): progress, ETA, stop between chunks, pause, observers,
irun, failures that keep what was recorded, and the run record's status."""

from __future__ import annotations

import threading

import pytest

from workbench.jobs import FunctionJob, Job


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
