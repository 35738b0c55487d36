"""``JobProgress``: the dashboards' view of a job (``workbench.jobs.Job``), twin of the notebook's
``TqdmProgress``: a progress bar and one status line (status, done / total unit, ETA, message).

A job changes on its worker thread; this view reads it only in ``refresh()``, on the session's
event loop, so no Bokeh model is touched from the worker. Either its owner calls ``refresh()``
from its own periodic callback (``JobProgress(job, auto_refresh=False)``, as a dashboard that
already has one does), or, shown alone, it refreshes itself with a periodic callback started when
it is first rendered and stopped when the session ends or ``close()`` is called.

It reads only the job contract: ``status``, ``message``, ``done``, ``total``, ``unit``, ``eta``
and ``fraction``.
"""

from __future__ import annotations

import panel as pn
import param

from workbench.jobs import Job, format_count

STATUS_LABELS = {"idle": "Ready", "running": "Running", "paused": "Paused",
                 "completed": "Completed", "stopped": "Stopped", "failed": "Failed"}
BAR_COLORS = {"completed": "success", "failed": "danger", "paused": "warning",
              "stopped": "secondary"}
BAR_MAX = 1000  # the bar's resolution: 0.1 %


def format_seconds(seconds: float) -> str:
    """A duration for people: ``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def status_text(job: Job) -> str:
    """The status line of ``job`` (Markdown): ``**Running** 300 / 1,000 steps | ETA 12 s |
    message``."""
    parts = [f"**{STATUS_LABELS.get(job.status, job.status)}**"]
    unit = f"{job.unit}s" if job.unit else ""
    if job.total:
        parts[0] += f" {format_count(job.done)} / {format_count(job.total)} {unit}".rstrip()
    elif job.done:
        parts[0] += f" {format_count(job.done)} {unit}".rstrip()
    if job.status == "running" and job.eta is not None:
        parts.append(f"ETA {format_seconds(job.eta)}")
    if job.message:
        parts.append(job.message)
    return " | ".join(parts)


class JobProgress(pn.viewable.Viewer):
    """Progress bar and status line of one job (module docstring)."""

    job = param.ClassSelector(class_=Job, allow_None=True, doc="The job shown (None: none).")
    auto_refresh = param.Boolean(default=True, doc="Refresh on a periodic callback of its own "
                                 "once rendered (False: the owner calls refresh()).")
    period = param.Integer(default=250, bounds=(20, None), doc="Milliseconds between refreshes "
                           "when refreshing itself.")

    def __init__(self, job: Job | None = None, **params):
        super().__init__(job=job, **params)
        self.bar = pn.indicators.Progress(value=0, max=BAR_MAX, bar_color="info",
                                          sizing_mode="stretch_width")
        self.line = pn.pane.Markdown("", sizing_mode="stretch_width", margin=(0, 10))
        self._layout = pn.Column(self.bar, self.line, sizing_mode="stretch_width")
        self._shown: tuple | None = None
        self._callback = None
        self.refresh()

    @param.depends("job", watch=True)
    def refresh(self) -> None:
        """Show the job's current state (call on the session's event loop). Nothing is sent
        to the browser when the state has not changed."""
        job = self.job
        if job is None:
            state = (None, "", None, None)
        else:
            running_unknown = job.status == "running" and not job.total
            value = -1 if running_unknown else int(round(BAR_MAX * job.fraction))
            state = (value, status_text(job), BAR_COLORS.get(job.status, "info"),
                     running_unknown)
        if state == self._shown:
            return
        self._shown = state
        value, text, color, active = state
        if job is None:
            self.bar.value, self.line.object = 0, ""
            return
        self.bar.param.update(value=value, bar_color=color, active=active)
        self.line.object = text

    def start_refresh(self) -> None:
        """Refresh every ``period`` ms on this session's event loop until ``close()``."""
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.refresh, period=self.period)
            if pn.state.curdoc is not None and pn.state.curdoc.session_context:
                pn.state.on_session_destroyed(lambda ctx: self.close())

    def close(self) -> None:
        """Stop refreshing itself (the job goes on)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def __panel__(self) -> pn.viewable.Viewable:
        if self.auto_refresh:
            self.start_refresh()
        return self._layout
