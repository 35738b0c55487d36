"""Fit runs on disk: what ``PotentialFit.save`` writes into a run of kind ``"fit"`` and how it
is read back.

A fit run holds ``config.json`` (every setting and the targets' state points,
``FitSettings.config``), ``metrics.json`` (status, final loss, g(r) errors, fitted analytic
parameters) and ``fit.npz``: the fitted and starting parameters (``param.*``, ``initial.*``; a
network's leaves as ``*.leaf_000``...), per state point ``k`` the target (``target_r_k``,
``target_g_k``), the fit's grid ``r_k``, the target on it ``g_target_k`` and the final g(r)
of ``evaluate`` ``g_final_k``, and the history (``history_*``). Read with
``allow_pickle=False``.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from workbench.fit.parameters import param_structure, to_pair_potential
from workbench.fit.settings import CONFIG_KEYS, FitSettings
from workbench.potential import LEARNED, PairPotential
from workbench.targets import TargetRDF

HISTORY_SERIES = ("loss", "wall_time", "rdf_error", "learning_rate_scale")


def write_fit_run(run, *, fitted: dict, initial: dict, points: list[dict], history: dict,
                  potential: PairPotential, outcome: dict) -> None:
    """Fill a new fit ``run`` (its config already written) with the results.

    ``fitted``/``initial``: natural parameters; ``points``: per state point ``{"target",
    "r" [n_bins], "g_final", "g_target" ([n_bins] or [n_pairs, n_bins]), "rdf_error"}``;
    ``history``: the fit's history; ``outcome``: ``{"status", "message", "iterations"}``.
    The run's status becomes completed, failed or (anything else) stopped."""
    arrays: dict[str, np.ndarray] = {}
    for k, p in enumerate(points):
        arrays.update({f"r_{k}": p["r"], f"g_final_{k}": p["g_final"],
                       f"g_target_{k}": np.asarray(p["g_target"]),
                       f"target_r_{k}": p["target"].r, f"target_g_{k}": p["target"].g})
    arrays.update(flat("param", fitted))
    arrays.update(flat("initial", initial))
    for key in HISTORY_SERIES:
        arrays[f"history_{key}"] = np.asarray(history[key], float)
    if history["params"]:
        stacked = jax.tree_util.tree_map(lambda *a: np.stack(a), *history["params"])
        arrays.update(flat("history_param", stacked))
    run.save_arrays("fit", **arrays)
    analytic = potential.family not in LEARNED
    run.save_metrics({
        "status": outcome["status"], "message": outcome["message"],
        "iterations": outcome["iterations"],
        "final_loss": history["loss"][-1] if history["loss"] else None,
        "rdf_error": [p["rdf_error"] for p in points],
        "wall_time_s": float(np.sum(history["wall_time"])),
        "fitted_params": ({k: np.asarray(v).tolist() for k, v in fitted.items()}
                          if analytic else None)})
    run.set_status({"completed": "completed", "failed": "failed"}.get(outcome["status"],
                                                                      "stopped"))


def fit_arguments(run) -> dict:
    """Keyword arguments that rebuild the fit of a fit run: its ``targets``, settings and
    ``initial_params`` (not its history)."""
    _check_kind(run)
    cfg = dict(run.config)
    arrays = run.load_arrays("fit")
    targets = []
    for k, meta in enumerate(cfg.pop("targets")):
        meta = dict(meta)
        meta["species_pairs"] = [tuple(p) for p in meta["species_pairs"]]
        targets.append(TargetRDF(r=arrays[f"target_r_{k}"], g=arrays[f"target_g_{k}"],
                                 **meta))
    settings = {k: v for k, v in cfg.items() if k in CONFIG_KEYS}
    initial = cfg.get("initial_params")
    if not isinstance(initial, dict):  # learned: saved as arrays
        structure = param_structure(FitSettings(targets=targets, **settings))
        initial = unflat(arrays, "initial", structure)
    return {"targets": targets, **settings, "initial_params": initial}


def load_fitted_params(run) -> dict:
    """The fitted parameters saved in a ``"fit"`` run: family parameters (floats or species
    matrices), ``{"u": [n_pairs, n_knots]}`` for a spline, or the network pytree.
    ``ValueError`` for a run of another kind."""
    _check_kind(run)
    structure = None
    if run.config.get("family") == "neural":
        structure = param_structure(FitSettings(**fit_arguments(run)))
    return unflat(run.load_arrays("fit"), "param", structure)


def fitted_potential(run) -> PairPotential:
    """The fitted potential of a ``"fit"`` run, rebuilt from its settings and fitted
    parameters; ``ValueError`` for a run of another kind."""
    return to_pair_potential(FitSettings(**fit_arguments(run)), load_fitted_params(run))


def _check_kind(run) -> None:
    if run.kind != "fit":
        raise ValueError(f"run {run.id} is a {run.kind!r} run, not a fit")


def flat(prefix: str, tree: Any) -> dict[str, np.ndarray]:
    """``{prefix.name: array}`` for a dict of arrays, ``{prefix.leaf_000: ...}`` otherwise."""
    if isinstance(tree, dict) and all(not isinstance(v, dict | list | tuple)
                                      for v in tree.values()):
        return {f"{prefix}.{k}": np.asarray(v) for k, v in tree.items()}
    leaves = jax.tree_util.tree_leaves(tree)
    return {f"{prefix}.leaf_{i:03d}": np.asarray(v) for i, v in enumerate(leaves)}


def unflat(arrays: dict, prefix: str, structure=None) -> dict:
    """Inverse of ``flat``: 0-d arrays become floats; leaves need the pytree ``structure``."""
    keys = sorted(k for k in arrays if k.startswith(prefix + "."))
    names = [k[len(prefix) + 1:] for k in keys]
    if names and all(n.startswith("leaf_") for n in names):
        if structure is None:
            raise ValueError(f"{prefix}: flattened leaves need the parameter structure")
        return jax.tree_util.tree_unflatten(structure, [arrays[k] for k in keys])
    return {n: (arrays[k] if arrays[k].ndim else float(arrays[k]))
            for n, k in zip(names, keys, strict=True)}
