"""Score one trajectory against a reference with MDsim's metrics for its kind of system (Fu et
al., TMLR 2023): a molecule (bond stability, h(r) MAE) or water (RDF stability, O-O / H-H / H-O
RDF MAE, oxygen diffusivity error). What ``workbench benchmark score`` prints."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.benchmark.diffusion import Diffusivity
from workbench.benchmark.hr import HR
from workbench.benchmark.rdf import PartialRDF
from workbench.benchmark.stability import BondStability, RDFStability
from workbench.benchmark.trajectory import CollapsedAtStart, load_trajectory

__all__ = ["KINDS", "score"]

KINDS = ("molecule", "water")


def _number(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def score(trajectory: Any, reference: Any, kind: str, frame_interval_ps: float | None = None,
          reference_interval_ps: float | None = None, diffusivity_lag_ps: float = 100.0
          ) -> dict[str, Any]:
    """MDsim's metrics of ``trajectory`` against ``reference`` as a JSON-ready dict.

    Args:
        trajectory, reference: anything ``load_trajectory`` reads (same atoms, same order).
        kind: ``"molecule"`` or ``"water"``.
        frame_interval_ps: time between the trajectory's frames (ps), if its file does not say.
        reference_interval_ps: the same for the reference (water's diffusivity needs it).
        diffusivity_lag_ps: lag at which D(t) is compared (MDsim: 100 ps).

    Returns:
        ``kind``, ``n_frames``, ``frame_interval_ps``, ``stability_ps``, ``collapsed``,
        ``collapse_frame``; molecule: ``hr_mae``; water: ``rdf_mae`` (``OO``, ``HH``, ``HO``),
        ``diffusivity`` and ``diffusivity_reference`` (Å^2/ps), ``diffusivity_error`` (Å^2/ps)
        and ``diffusivity_note`` when it is not available; ``units``. A metric the collapse
        left unmeasured is None (MDsim's inf).

    Raises:
        ValueError: unknown kind, unreadable files, atoms unlike the reference's, unknown
            frame interval.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    try:
        traj = load_trajectory(trajectory, frame_interval_ps)
    except CollapsedAtStart as exc:  # a watched run that kept no frame: MDsim's inf errors
        return {"kind": kind, "n_frames": 0, "frame_interval_ps": frame_interval_ps,
                "stability_ps": exc.collapse_ps, "collapsed": True, "collapse_frame": 0,
                **({"hr_mae": None} if kind == "molecule" else
                   {"rdf_mae": None, "diffusivity": None, "diffusivity_error": None}),
                "note": str(exc)}
    ref = load_trajectory(reference, reference_interval_ps)
    traj.interval_ps()
    out: dict[str, Any] = {"kind": kind, "n_frames": traj.n_frames,
                           "frame_interval_ps": traj.frame_interval_ps}
    if kind == "molecule":
        stability = BondStability(ref).run(traj).results
        hr = HR(ref).run(traj, stability=stability).results
        out.update(_stability(stability), hr_mae=_number(hr.mae),
                   units={"stability": "ps", "hr_mae": "1 (integral of |h - h_ref| dr)"})
        return out
    stability = RDFStability(ref).run(traj).results
    rdf = PartialRDF(ref).run(traj, stability=stability).results
    out.update(_stability(stability), rdf_mae={k: _number(v) for k, v in rdf.mae.items()})
    try:
        diffusivity = Diffusivity(ref, lag_ps=diffusivity_lag_ps).run(
            traj, stability=stability).results
    except ValueError as exc:  # the reference cannot give D at that lag
        out.update(diffusivity=None, diffusivity_reference=None, diffusivity_error=None,
                   diffusivity_note=str(exc))
    else:
        out.update(diffusivity=_number(diffusivity.D),
                   diffusivity_reference=diffusivity.D_reference,
                   diffusivity_error=_number(diffusivity.error))
        if not diffusivity.available:
            out["diffusivity_note"] = (f"the stable part is shorter than the lag "
                                       f"{diffusivity_lag_ps:g} ps")
    out["units"] = {"stability": "ps", "rdf_mae": "Å (integral of |g - g_ref| dr)",
                    "diffusivity": "Å^2/ps"}
    return out


def _stability(results: dict) -> dict[str, Any]:
    return {"stability_ps": float(results["stable_time_ps"]),
            "collapsed": bool(results["collapsed"]),
            "collapse_frame": results["collapse_frame"]}
