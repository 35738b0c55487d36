"""One contract for everything long: simulations, fits, data generation, training, benchmarks.

A ``Job`` is a ``param.Parameterized`` whose work is a generator (``_work``) that does one chunk
(a few MD frames, one fit iteration, one block of reference data) per ``yield``. The base class
owns what every long job needs, so no workflow writes its own thread code:

- state: ``status`` (idle, running, paused, completed, stopped, failed) and ``message``;
- progress: ``done`` of ``total`` ``unit`` (``fraction`` and an ``eta`` in seconds from the rate
  of the chunks after the first, which usually compiles);
- control: ``start()`` (a background thread), ``pause()``, ``resume()``, ``stop()`` (after the
  current chunk, everything recorded so far kept), ``cancel()`` (the same without waiting),
  ``wait()``; or ``run()`` in the calling thread with a tqdm bar, or the ``irun()`` generator,
  which yields after every chunk as ASE's ``Dynamics.irun`` does;
- observers: ``attach(callback, interval)`` calls ``callback(*args, **kwargs)`` every
  ``interval`` chunks, as ASE's ``Dynamics.attach``;
- failure: an exception inside a chunk ends the job ``failed`` with ``"Type: message"``; what
  earlier chunks recorded stays. A job with a run record (``record``, a registry ``Run``) has
  the record's status set when the job ends.

Two views of one job: ``TqdmProgress`` (a tqdm bar, used by ``run(progress=True)`` in notebooks
and scripts) here, and ``workbench.ui.jobs.JobProgress`` (a Panel indicator) in dashboards.

Follows ASE's dynamics (``attach``, ``run``, ``irun``) and param's Parameterized state; written
here because no library offers a cancellable, observable background job over JAX chunks.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import param

STATUSES = ("idle", "running", "paused", "completed", "stopped", "failed")
FINISHED = ("completed", "stopped", "failed")

#: jobs and their threads to end before the interpreter exits: a thread still inside XLA while
#: the runtime is torn down aborts the process
_JOBS: weakref.WeakSet = weakref.WeakSet()
_THREADS: weakref.WeakSet = weakref.WeakSet()
_WORKERS: weakref.WeakSet = weakref.WeakSet()


def track_thread(thread: threading.Thread) -> threading.Thread:
    """Join ``thread`` (a daemon doing JAX work) before the interpreter exits."""
    _THREADS.add(thread)
    return thread


class Worker:
    """One daemon thread that runs submitted callables one after another, each returning a
    ``concurrent.futures.Future`` (a dashboard session's queue of tasks).

    Unlike ``ThreadPoolExecutor``, whose non-daemon threads the interpreter joins before any
    ``atexit`` hook can stop their work (a server then waits for a long simulation to finish
    before it exits), the thread is a tracked daemon: at exit the running jobs are cancelled
    first and the thread is then joined (``_end_background_work``).
    """

    def __init__(self, name: str = "worker"):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        _WORKERS.add(self)
        self._thread = track_thread(threading.Thread(target=self._loop, name=name,
                                                     daemon=True))
        self._thread.start()

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # delivered through the future
                future.set_exception(exc)

    def submit(self, fn: Callable[[], Any]) -> Future:
        """Queue ``fn``; ``RuntimeError`` after ``shutdown``."""
        if self._closed:
            raise RuntimeError("this worker has been shut down")
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def shutdown(self, cancel_futures: bool = True) -> None:
        """Cancel what has not started (``cancel_futures``) and let the thread end after the
        running callable (not waited for)."""
        self._closed = True
        if cancel_futures:
            pending = []
            with contextlib.suppress(queue.Empty):
                while True:
                    pending.append(self._queue.get_nowait())
            for item in pending:
                if item is not None:
                    item[1].cancel()
        self._queue.put(None)


@atexit.register
def _end_background_work(timeout: float = 60.0) -> None:
    """Stop every running job after its chunk and wait for the background threads."""
    for job in list(_JOBS):
        job.cancel()
    for worker in list(_WORKERS):
        worker.shutdown()
    deadline = time.monotonic() + timeout
    for thread in list(_THREADS):
        thread.join(max(0.0, deadline - time.monotonic()))


class Job(param.Parameterized):
    """Base of every long-running workflow (module docstring). Subclasses implement ``_work``
    and report progress with ``_advance``."""

    status = param.Selector(default="idle", objects=list(STATUSES), constant=True,
                            doc="idle, running, paused, completed, stopped or failed.")
    message = param.String(default="", constant=True, doc="What the job is doing, or why it "
                           "ended.")
    done = param.Number(default=0, bounds=(0, None), constant=True,
                        doc="Units of work done (steps, iterations, frames, epochs).")
    total = param.Number(default=None, allow_None=True, bounds=(0, None), constant=True,
                         doc="Units of work in all; None when not known.")
    unit = param.String(default="step", constant=True, doc="Name of one unit of work.")
    eta = param.Number(default=None, allow_None=True, constant=True,
                       doc="Estimated seconds left (None until two chunks have run).")

    def __init__(self, **params):
        super().__init__(**params)
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._running_event = threading.Event()
        self._running_event.set()
        self._observers: list[tuple[Callable, int, tuple, dict]] = []
        self._chunks_done = 0
        self._rate_start: tuple[float, float] | None = None  # (time, done) after chunk 1
        self.error: BaseException | None = None
        self.record = None  # a registry Run whose status follows the job's, if any
        _JOBS.add(self)

    # --- for subclasses ----------------------------------------------------------------------
    def _work(self) -> Iterator[Any]:
        """Do the work, one chunk per ``yield``; return when finished. Checked for stop and
        pause between chunks by the base class."""
        raise NotImplementedError

    def _advance(self, done: float, total: float | None = None, **values) -> None:
        """Report progress (``done`` units of ``total``) and any other parameter values."""
        now = time.perf_counter()
        total = self.total if total is None else total
        eta = None
        if self._rate_start is not None and total is not None:
            t0, d0 = self._rate_start
            if done > d0 and now > t0:
                eta = max(0.0, (total - done) * (now - t0) / (done - d0))
        self._set(done=done, total=total, eta=eta, **values)

    def _set(self, **values) -> None:
        with param.edit_constant(self):
            self.param.update(**values)

    def _finished(self) -> None:
        """Called once when the job ends (any status); marks the run record by default."""
        if self.record is not None and self.record.status != self.status:
            self.record.set_status(self.status)

    # --- derived ----------------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 when the total is not known)."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def running(self) -> bool:
        """True while the job's thread (or ``irun``) is inside its work."""
        return self.status in ("running", "paused")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    # --- observers --------------------------------------------------------------------------
    def attach(self, callback: Callable, interval: int = 1, *args, **kwargs) -> None:
        """Call ``callback(*args, **kwargs)`` after every ``interval`` chunks (from the thread
        doing the work), as ASE's ``Dynamics.attach``."""
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self._observers.append((callback, int(interval), args, kwargs))

    def detach(self, callback: Callable) -> None:
        self._observers = [o for o in self._observers if o[0] is not callback]

    def _call_observers(self) -> None:
        for callback, interval, args, kwargs in list(self._observers):
            if self._chunks_done % interval == 0:
                callback(*args, **kwargs)

    # --- running ----------------------------------------------------------------------------
    def irun(self) -> Iterator[Job]:
        """Run in the calling thread, yielding the job after every chunk. ``stop()`` (from
        another thread, or from an observer) ends it between chunks; an exception in the work
        marks the job failed and is raised."""
        self._check_startable()
        self._stop_event.clear()
        return self._iterate()

    def _iterate(self) -> Iterator[Job]:
        self._running_event.set()
        self.error = None
        self._set(status="running", eta=None)
        self._chunks_done, self._rate_start = 0, None
        work = self._work()
        try:
            while True:
                if not self._running_event.is_set():
                    self._set(status="paused", eta=None, message=self._paused_message())
                    self._running_event.wait()
                    if not self._stop_event.is_set():
                        self._set(status="running")
                if self._stop_event.is_set():
                    if not self.finished:
                        self._set(status="stopped", eta=None,
                                  message=self._stopped_message())
                    break
                try:
                    next(work)
                except StopIteration:
                    if not self.finished:
                        self._set(status="completed", eta=0.0,
                                  message=self._completed_message())
                    break
                self._chunks_done += 1
                if self._chunks_done == 1:
                    self._rate_start = (time.perf_counter(), self.done)
                self._call_observers()
                if self.finished:  # the work ended itself (e.g. a failed stability check)
                    break
                yield self
        except (GeneratorExit, KeyboardInterrupt):  # irun() abandoned, or Ctrl-C: stopped
            if not self.finished:
                self._set(status="stopped", eta=None, message=self._stopped_message())
            raise
        except Exception as exc:
            self.error = exc
            self._set(status="failed", eta=None, message=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            work.close()
            self._finished()

    def run(self, progress: bool = True) -> Job:
        """Run in the calling thread to the end (or until stopped); ``progress=True`` shows a
        tqdm bar. Returns the job."""
        bar = TqdmProgress(self) if progress else None
        try:
            for _ in self.irun():
                pass
        finally:
            if bar is not None:
                bar.close()
        return self

    def start(self) -> None:
        """Run in a background thread; a paused job resumes. Errors end the job ``failed``
        with the message (and ``error`` holds the exception); they are not raised."""
        if self._thread is not None and self._thread.is_alive():
            self.resume()
            return
        self._check_startable()
        self._stop_event.clear()
        self._set(status="running")

        def target():
            try:
                for _ in self._iterate():
                    pass
            except Exception:  # recorded in status, message and error
                pass

        self._thread = track_thread(threading.Thread(
            target=target, name=f"job-{type(self).__name__}", daemon=True))
        self._thread.start()

    def pause(self) -> None:
        """Pause after the current chunk (``resume`` or ``start`` continues)."""
        if self.status == "running":
            self._running_event.clear()

    def resume(self) -> None:
        self._running_event.set()

    def stop(self, wait: bool = True) -> None:
        """Stop after the current chunk, keeping everything recorded so far."""
        self._stop_event.set()
        self._running_event.set()
        if wait:
            self.wait()

    def cancel(self) -> None:
        """Ask the job to stop after its current chunk, without waiting."""
        self.stop(wait=False)

    @property
    def stop_requested(self) -> bool:
        """True once ``stop``/``cancel`` was called (for work that checks inside a chunk)."""
        return self._stop_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background thread; True when it has ended (or none was started)."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # --- messages (subclasses may say more) ----------------------------------------------------
    def _check_startable(self) -> None:
        """Raise if the job cannot start again (e.g. completed and not reset)."""

    def _paused_message(self) -> str:
        return f"paused after {format_count(self.done)} {self.unit}s"

    def _stopped_message(self) -> str:
        return f"stopped after {format_count(self.done)} {self.unit}s"

    def _completed_message(self) -> str:
        return f"completed {format_count(self.done)} {self.unit}s"


class FunctionJob(Job):
    """A job made of a generator function: ``FunctionJob(fn, unit=..., total=...)`` where
    ``fn(job)`` yields after every chunk and calls ``job.report(done, total)``; its return
    value becomes ``result``. For work that needs no class of its own (queued tasks of a
    dashboard, data generation)."""

    def __init__(self, fn: Callable[[FunctionJob], Iterator[Any]], **params):
        super().__init__(**params)
        self._fn = fn
        self.result: Any = None

    def report(self, done: float, total: float | None = None, **values) -> None:
        """Progress from inside ``fn``."""
        self._advance(done, total, **values)

    def _work(self) -> Iterator[Any]:
        self.result = yield from self._fn(self)


class TqdmProgress:
    """A tqdm bar that follows a job (notebooks get tqdm's widget, terminals a text bar)."""

    def __init__(self, job: Job, **tqdm_kwargs):
        from tqdm.auto import tqdm

        self.job = job
        self.bar = tqdm(total=job.total, initial=job.done, unit=job.unit, **tqdm_kwargs)
        job.attach(self.update)

    def update(self) -> None:
        job = self.job
        if job.total != self.bar.total:
            self.bar.total = job.total
        self.bar.update(job.done - self.bar.n)
        if job.message:
            self.bar.set_postfix_str(job.message, refresh=False)

    def close(self) -> None:
        self.job.detach(self.update)
        self.update()
        self.bar.close()


def format_count(x: float) -> str:
    """A count for people: ``1,000`` for whole numbers, three significant digits otherwise."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.3g}"
