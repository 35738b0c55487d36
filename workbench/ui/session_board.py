"""``SessionDashboard``: what the dashboards over a ``workbench.data.session.DataSession`` share
(Train, Coarse grain): the dataset card, one progress view of the session's current job, one
periodic refresh on the session's event loop (``_refresh``, defined by each dashboard), a worker
thread for work too slow for the event loop, the MD inputs, and stopping everything when the
browser tab closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn

from workbench.data.session import DataSession
from workbench.jobs import Worker
from workbench.ui.datasets import DatasetCard, notice
from workbench.ui.inputs import NumberInput, number_input
from workbench.ui.jobs import JobProgress
from workbench.ui.serving import LocalViewer
from workbench.ui.sessions import close_with_session

REFRESH_MS = 300


class SessionDashboard(LocalViewer):
    """Holds ``session``, ``data`` (its ``DatasetCard``), ``progress`` and a worker; subclasses
    build their cards, then call ``_start()``."""

    def __init__(self, session: DataSession, worker_name: str, **card: Any):
        super().__init__()
        self.session = session
        self._worker = Worker(worker_name)
        self.data = DatasetCard(session, **card)
        self.progress = JobProgress(auto_refresh=False)
        self._callback = None
        self._md_sim, self._md_chunks = None, 0

    def _start(self) -> None:
        self._callback = pn.state.add_periodic_callback(self._refresh, period=REFRESH_MS)
        close_with_session(self.close)

    def _refresh(self) -> None:
        raise NotImplementedError

    def _md_news(self) -> tuple[Any, bool, list]:
        """``(simulation, new, chunks)``: the session's MD run, whether it is another run than
        at the last call, and its chunks recorded since then (``(None, False, [])`` without
        a run)."""
        sim = getattr(self.session, "simulation", None)
        if sim is None:
            return None, False, []
        new = sim is not self._md_sim
        if new:
            self._md_sim, self._md_chunks = sim, 0
        chunks = sim.chunks(self._md_chunks)
        self._md_chunks += len(chunks)
        return sim, new, chunks

    def _act(self, fn: Callable[[], Any], where: pn.pane.Alert) -> None:
        """Run ``fn``; a ``ValueError`` is shown in ``where`` as the reason nothing started."""
        notice(where, None)
        try:
            fn()
        except ValueError as exc:
            notice(where, f"**Not started:** {exc}")

    @staticmethod
    def md_inputs(steps: int, timestep_fs: float) -> tuple[NumberInput, NumberInput,
                                                           NumberInput]:
        """Steps, temperature (K, 300 by default) and time step (fs) of an MD run."""
        return (number_input("Steps", steps, (10, None), integer=True),
                number_input("Temperature (K)", 300.0, (1.0, None)),
                number_input("Time step (fs)", timestep_fs, (0.01, None)))

    def close(self) -> None:
        """Stop refreshing and stop the session's jobs (also when the tab closes)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self.session.close()
        self._worker.shutdown()
