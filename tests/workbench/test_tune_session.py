"""The Tune session headless: its tasks follow the job contract (status, message, progress as
done/total/unit), ``stop()`` ends a fit between iterations and drops queued fits, and stops the
reference simulation between its chunks."""

from __future__ import annotations

import time

import pytest

from tests.ui.browser import wait_until
from workbench.fit import TuneSession


def test_session_tasks_report_progress_and_stop_between_chunks():
    session = TuneSession(n_atoms=108, replicas=1, steps_per_iteration=40, relax_steps=10,
                          stride=10)
    assert (session.status, session.done, session.total, session.busy) == ("idle", 0, None,
                                                                          False)
    made, seen = session.make_target(n_steps=600), set()
    while not made.done():
        seen.add((session.unit, session.done, session.total))
        time.sleep(0.01)
    made.result()
    assert session.status == "completed" and session.message.startswith("target:")
    assert ("step", 600, 600) in seen  # the reference simulation's steps, of 600
    assert session.preview_result is not None  # the starting parameters were simulated

    running, queued = session.fit(50), session.fit(5)
    wait_until(lambda: session.unit == "iteration" and session.done >= 2, timeout=300)
    session.stop()
    running.result(), queued.result()
    done = len(session.fits["diffsim"].history["loss"])
    assert 2 <= done < 50 and len(session.fits["ibi"].history["loss"]) == done
    assert session.status == "stopped" and session.total == 50  # the queued fit never ran
    assert session.message == f"stopped after {done} iterations" and not session.busy

    stopped = session.make_target(n_steps=20_000, density=0.75)  # a new reference run
    wait_until(lambda: session.unit == "step" and session.total == 20_000
               and session.done >= 300, timeout=300)
    session.stop()
    stopped.result()
    assert session.status == "stopped" and session.done < 20_000
    assert session.target.density == pytest.approx(0.7)  # still the target made before
    session.close()
