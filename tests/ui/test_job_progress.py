"""``JobProgress`` (workbench/ui/jobs.py), the Panel view of the job contract: bar and status
line follow a job through running, completed, failed and unknown totals, with no deprecated
Panel API; served alone, it refreshes itself in a real headless Chromium."""

from __future__ import annotations

import threading
import warnings

import pytest

from tests.ui.browser import wait_until
from workbench.jobs import Job
from workbench.ui.jobs import BAR_MAX, JobProgress, format_seconds, status_text


class Ticks(Job):
    """Counts to ``n`` (``total=None``: an unknown total); ``fail_at`` raises there; ``gate``
    holds each chunk until set."""

    def __init__(self, n: int, known_total: bool = True, fail_at: int | None = None,
                 gate: threading.Event | None = None):
        super().__init__(unit="tick", total=n if known_total else None)
        self.n, self.fail_at, self.gate = n, fail_at, gate

    def _work(self):
        for i in range(1, self.n + 1):
            if self.gate is not None:
                self.gate.wait(10)
            if i == self.fail_at:
                raise ValueError(f"bad tick {i}")
            self._advance(i, message=f"tick {i}")
            yield


def test_bar_and_line_follow_a_job_to_completion():
    job = Ticks(8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated Panel API (Panel 1.9: label, color)
        view = JobProgress(job, auto_refresh=False)
    assert view.bar.value == 0 and view.line.object == "**Ready** 0 / 8 ticks"
    steps = job.irun()
    next(steps), next(steps)  # two chunks: an ETA from the rate of the second
    view.refresh()
    assert view.bar.value == BAR_MAX * 2 // 8 and view.bar.bar_color == "info"
    assert view.line.object.startswith("**Running** 2 / 8 ticks | ETA ")
    assert view.line.object.endswith(" | tick 2")
    for _ in steps:
        pass
    view.refresh()
    assert view.bar.value == BAR_MAX and view.bar.bar_color == "success"
    assert view.line.object == "**Completed** 8 / 8 ticks | completed 8 ticks"


def test_failed_job_and_unknown_total():
    job = Ticks(5, fail_at=3)
    view = JobProgress(job, auto_refresh=False)
    with pytest.raises(ValueError):
        job.run(progress=False)
    view.refresh()
    assert view.bar.bar_color == "danger" and view.bar.value == BAR_MAX * 2 // 5
    assert view.line.object == "**Failed** 2 / 5 ticks | ValueError: bad tick 3"

    job = Ticks(4, known_total=False)
    view.job = job  # a new job is shown at once
    assert view.line.object == "**Ready**"
    steps = job.irun()
    next(steps)
    view.refresh()
    assert view.bar.value == -1 and view.bar.active  # indeterminate while running
    assert status_text(job) == "**Running** 1 ticks | tick 1"


def test_format_seconds():
    assert [format_seconds(s) for s in (0.4, 42, 185, 7650)] == [
        "0 s", "42 s", "3 min 05 s", "2 h 07 min"]


@pytest.mark.ui
def test_served_alone_it_refreshes_itself(serve_app, page):
    gate = threading.Event()
    job = Ticks(20, gate=gate)
    app = serve_app(lambda: JobProgress(job, period=50))
    page.goto(app.url)
    page.wait_for_selector("text=Ready")
    job.start()
    gate.set()
    job.wait(30)
    page.wait_for_selector("text=Completed 20 / 20 ticks", timeout=10_000)
    assert job.status == "completed"
    assert page.log.external_requests() == [] and page.log.errors() == []
    page.close()
    wait_until(lambda: app.sessions_destroyed, timeout=30, message="the session to end")
