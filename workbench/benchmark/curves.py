"""The curves behind the benchmark's plots: for one scored run (a row of ``BenchmarkGrid``),
the same quantities its metrics compare, as curves of the run and of the reference, measured on
the frames before the collapse exactly as ``score`` measures them (stability first, then the
metric with ``stability=``; MDsim's ``traj[:collapse_pt]``, Fu et al., TMLR 2023).

- molecules: h(r) (``HR``) and, for a peptide whose force field names its backbone dihedrals
  (alanine dipeptide), F(phi) and F(psi) (``FreeEnergy``);
- water: the partial RDFs O-O, H-H, H-O (``PartialRDF``) and the MSD of oxygen with the
  species' centre of mass removed, MSD(t) = 6 t D(t) of ``diffusion.diffusivity_curve`` (what
  ``Diffusivity`` reads D from), for the run and the reference at the run's frame spacing.

The reference-side work (a reference's h(r), RDFs, F) is done once per reference and kept; the
curves of a run are kept per run id (runs do not change once scored).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from workbench.benchmark.diffusion import diffusivity_curve
from workbench.benchmark.free_energy import FreeEnergy
from workbench.benchmark.hr import HR
from workbench.benchmark.rdf import PartialRDF
from workbench.benchmark.stability import BondStability, RDFStability
from workbench.benchmark.systems import BenchmarkSystem, get_system
from workbench.benchmark.trajectory import CollapsedAtStart, Trajectory, load_trajectory

__all__ = ["MSD_SPECIES", "clear_cache", "row_curves"]

MSD_SPECIES = 8
"""Atomic number whose MSD is drawn for water (oxygen, MDsim's diffusivity species)."""
MAX_CACHED_RUNS = 256

_lock = threading.RLock()
_metrics: dict[tuple, Any] = {}
_runs: dict[str, dict[str, Any]] = {}


def clear_cache() -> None:
    """Forget every kept reference metric and run's curves."""
    with _lock:
        _metrics.clear()
        _runs.clear()


def _metric(cls: type, reference: str, *args: Any) -> Any:
    """One metric object per (class, reference, arguments): its reference side is computed
    once (``Metric.run`` resets everything of the scored run)."""
    key = (cls.__name__, reference, *args)
    with _lock:
        if key not in _metrics:
            _metrics[key] = cls(reference, *args)
        return _metrics[key]


def _phi_psi(system: BenchmarkSystem) -> np.ndarray | None:
    """``[m, 2, 4]`` backbone dihedral quads of a built-in molecule with a force field that
    names them (alanine dipeptide), else None."""
    if system.kind != "molecule" or not system.has_classical:
        return None
    key = ("phi_psi", system.name, system.builder)
    with _lock:
        if key not in _metrics:
            forcefield = getattr(system.structure(), "forcefield", None)
            indices = None
            if forcefield is not None and hasattr(forcefield, "phi_psi_indices"):
                indices = np.asarray(forcefield.phi_psi_indices(), np.int64).reshape(-1, 2, 4)
            _metrics[key] = indices if indices is not None and len(indices) else None
        return _metrics[key]


def _trajectory(row: dict[str, Any], registry: Any) -> Trajectory:
    run_id = row.get("run_id")
    if not run_id:
        raise ValueError(f"the row {row.get('cell', '')!r} has no run ({row.get('message', '')})")
    if registry is not None:
        return load_trajectory(Path(registry.get(run_id).path))
    return load_trajectory(run_id)


def row_curves(row: dict[str, Any], system: Any = None, registry: Any = None,
               trajectory: Any = None) -> dict[str, Any]:
    """The curves of one scored run against its reference (module docstring).

    Args:
        row: a ``BenchmarkGrid`` row (``run_id``, ``system``; ``model`` and ``seed`` are
            copied into the result).
        system: the ``BenchmarkSystem`` (or its name or ``to_dict``); default the row's
            ``system`` name among the built-in ones.
        registry: the ``RunRegistry`` holding the run (default the user's).
        trajectory: the frames to use instead of the row's run (anything ``load_trajectory``
            reads); the result is then not kept.

    Returns:
        ``run_id``, ``model``, ``system``, ``seed``, ``kind``, ``n_frames``,
        ``n_stable_frames`` (frames the curves use), ``stability_ps`` (ps), ``collapsed``,
        ``collapse_frame`` (first bad frame, or None), ``note`` (why a curve is missing, or
        ""), and per kind:

        - ``hr``: ``{"r" [n] Å, "h" [n] 1/Å or None, "h_reference" [n] 1/Å, "mae"}``
          (molecule; ``HR``'s results);
        - ``fes``: ``{"centres_deg" [60] degrees, "F_phi", "F_psi" [60] kJ/mol or None,
          "F_phi_reference", "F_psi_reference" [60] kJ/mol (inf where unvisited),
          "mae_phi", "mae_psi"}`` (MDsim's kJ/mol x 6.28), or None for a molecule without
          backbone dihedrals;
        - ``rdf``: ``{"r" [n] Å, "g" {pair: [n]} or None, "g_reference" {pair: [n]},
          "mae" {pair: Å}}`` (water; ``PartialRDF``'s results);
        - ``msd``: ``{"t_ps" [k] ps, "msd" [k] Å², "t_reference_ps" [m] ps,
          "msd_reference" [m] Å²}`` of oxygen (water; the reference's None when its frame
          interval is unknown), or None with fewer than 2 stable frames.

    Raises:
        ValueError: a row without a run (an error row), an unknown system, a missing or
            unreadable trajectory, atoms unlike the reference's.
    """
    run_id = row.get("run_id") if trajectory is None else None
    with _lock:
        if run_id and run_id in _runs:
            return _runs[run_id]
    system = get_system(system if system is not None else row["system"])
    reference = system.reference_path()
    out: dict[str, Any] = {"run_id": row.get("run_id"), "model": row.get("model", ""),
                           "system": system.name, "seed": row.get("seed"),
                           "kind": system.kind, "note": ""}
    try:
        traj = (_trajectory(row, registry) if trajectory is None
                else load_trajectory(trajectory))
    except CollapsedAtStart as exc:  # nothing kept: only the references to draw
        traj, out["note"] = None, str(exc)
    if system.kind == "molecule":
        _molecule(out, traj, reference, system)
    else:
        _water(out, traj, reference)
    if run_id:
        with _lock:
            if len(_runs) >= MAX_CACHED_RUNS:
                _runs.pop(next(iter(_runs)))
            _runs[run_id] = out
    return out


def _stability(out: dict[str, Any], results: dict, n_frames: int) -> dict:
    out.update(n_frames=n_frames, n_stable_frames=int(results["n_stable_frames"]),
               stability_ps=float(results["stable_time_ps"]),
               collapsed=bool(results["collapsed"]), collapse_frame=results["collapse_frame"])
    return results


def _collapsed_at_start(out: dict[str, Any]) -> dict:
    """The stability of a run that kept no frame (``n_stable_frames`` 0)."""
    out.update(n_frames=0, n_stable_frames=0, stability_ps=0.0, collapsed=True,
               collapse_frame=0)
    return {"n_stable_frames": 0, "collapsed": True, "stable_time_ps": 0.0}


def _molecule(out: dict[str, Any], traj: Trajectory | None, reference: str,
              system: BenchmarkSystem) -> None:
    hr_metric = _metric(HR, reference)
    indices = _phi_psi(system)
    if traj is None:
        _collapsed_at_start(out)
        out["hr"] = {"r": 0.5 * (hr_metric.edges[1:] + hr_metric.edges[:-1]), "h": None,
                     "h_reference": hr_metric.h_reference, "mae": np.inf}
        out["fes"] = None
        return
    stability = _stability(out, _metric(BondStability, reference).run(traj).results,
                           traj.n_frames)
    hr = hr_metric.run(traj, stability=stability).results
    out["hr"] = {k: hr[k] for k in ("r", "h", "h_reference", "mae")}
    out["fes"] = None
    if indices is not None:
        res = _free_energy(reference, indices).run(traj, stability=stability).results
        out["fes"] = {k: res[k] for k in ("centres_deg", "F_phi", "F_psi", "F_phi_reference",
                                          "F_psi_reference", "mae_phi", "mae_psi")}


def _free_energy(reference: str, indices: np.ndarray) -> FreeEnergy:
    key = ("FreeEnergy", reference, indices.tobytes())
    with _lock:
        if key not in _metrics:
            _metrics[key] = FreeEnergy(reference, indices)
        return _metrics[key]


def _water(out: dict[str, Any], traj: Trajectory | None, reference: str) -> None:
    rdf_metric = _metric(PartialRDF, reference)
    names = rdf_metric.counter.names
    if traj is None:
        _collapsed_at_start(out)
        out["rdf"] = {"r": rdf_metric.counter.r_centres, "g": None,
                      "g_reference": dict(zip(names, rdf_metric.g_reference, strict=True)),
                      "mae": dict.fromkeys(names, np.inf)}
        out["msd"] = None
        return
    stability = _stability(out, _metric(RDFStability, reference).run(traj).results,
                           traj.n_frames)
    rdf = rdf_metric.run(traj, stability=stability).results
    out["rdf"] = {k: rdf[k] for k in ("r", "g", "g_reference", "mae")}
    out["msd"] = _msd(traj, reference, out["n_stable_frames"])


def _msd(traj: Trajectory, reference: str, n_stable: int) -> dict[str, np.ndarray] | None:
    """MSD(t) = 6 t D(t) of oxygen in the stable frames and in the reference, sampled at the
    run's frame spacing, or the reference's when coarser (Å², ps)."""
    if n_stable < 2 or not np.any(traj.numbers == MSD_SPECIES):
        return None
    dt = traj.interval_ps()
    t, d = diffusivity_curve(traj, MSD_SPECIES, dt, n_frames=n_stable)
    key = ("msd", reference, dt)
    with _lock:
        if key not in _metrics:
            ref = load_trajectory(reference)
            _metrics[key] = (None, None) if ref.frame_interval_ps is None else \
                diffusivity_curve(ref, MSD_SPECIES, max(dt, ref.interval_ps()))
        t_ref, d_ref = _metrics[key]
    return {"t_ps": t, "msd": 6.0 * t * d, "t_reference_ps": t_ref,
            "msd_reference": None if t_ref is None else 6.0 * t_ref * d_ref}
