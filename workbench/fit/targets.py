"""Targets made by the workbench's own simulations: the smooth g(r) of a ``Simulation``
(``target_from_simulation``), of a stored simulation run (``target_from_run``) or of a
registered system run at a temperature (``target_from_reference_system``). The target records
the Gaussian width it was made with (``rdf_sigma``), so a fit compares like with like.

Workflow-level: these run or read simulations; ``workbench.targets.TargetRDF`` itself is a
plain value (files, frames).
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.builders import build_system
from workbench.simulation import Simulation
from workbench.targets import TargetRDF


def target_from_simulation(simulation: Simulation, *, r_max: float | None = None,
                           n_bins: int = 100, rdf_sigma: float | None = None,
                           equilibration: int = 0,
                           species_pairs: list[tuple[int, int]] | None = None,
                           progress: Callable[[int, int], None] | None = None,
                           stop_requested: Callable[[], bool] | None = None) -> TargetRDF:
    """Run (or finish running) ``simulation`` and take the smooth g(r) of its frames after
    ``equilibration`` steps (``r_max`` default: the potential's cutoff, in length units;
    ``rdf_sigma`` default: one bin). After every chunk ``progress(step, n_steps)`` is called
    and, when ``stop_requested()`` is true, the simulation stops. ``RuntimeError`` when it does
    not complete (stopped or failed). The run is left in the simulation (``simulation.save()``
    keeps it)."""
    def after_chunk(sim, chunk):
        if progress is not None:
            progress(sim.step, sim.n_steps)
        if stop_requested is not None and stop_requested():
            sim.stop(wait=False)

    simulation.subscribe(after_chunk)
    try:
        traj = simulation.run(progress=False)
    finally:
        simulation.unsubscribe(after_chunk)
    if simulation.status != "completed":
        raise RuntimeError(f"reference simulation did not complete: {simulation.message}")
    s = simulation.system
    return TargetRDF.from_frames(
        traj.positions[traj.steps > equilibration], s.box, s.species, s.species_names,
        temperature=simulation.temperature, units=s.units,
        r_max=r_max if r_max is not None else s.potential.r_cutoff, n_bins=n_bins,
        rdf_sigma=rdf_sigma, species_pairs=species_pairs, source=f"simulation of {s.name}")


def target_from_run(run, *, equilibration: int = 0, r_max: float | None = None,
                    n_bins: int = 100, rdf_sigma: float | None = None,
                    species_pairs: list[tuple[int, int]] | None = None) -> TargetRDF:
    """g(r) of a stored simulation run (``RunRegistry().get(id)``) from its frames after
    ``equilibration`` steps, with the run's state point and units (``r_max`` default: the
    run's potential cutoff). ``ValueError`` for a run that is not a simulation."""
    if run.kind != "simulation":
        raise ValueError(f"run {run.id} is a {run.kind!r} run; a target needs a simulation")
    arrays, cfg = run.load_arrays("trajectory"), run.config
    system = cfg["system"]
    cutoff = (system.get("potential") or {}).get("r_cutoff")
    return TargetRDF.from_frames(
        arrays["positions"][arrays["steps"] > equilibration], arrays["box"],
        arrays["species"], system["species_names"], temperature=cfg["temperature"],
        units=system["units"], r_max=r_max if r_max is not None else cutoff, n_bins=n_bins,
        rdf_sigma=rdf_sigma, species_pairs=species_pairs, source=f"run {run.id} ({run.name})")


def target_from_reference_system(system_name: str = "lj_fluid", *, temperature: float,
                                 n_steps: int = 20_000, equilibration: int = 5_000,
                                 stride: int = 50, timestep: float = 0.005, seed: int = 0,
                                 precision: str = "float32", system_kwargs: dict | None = None,
                                 **rdf_kwargs) -> TargetRDF:
    """Build a registered system (``build_system(system_name, **system_kwargs)``), run
    Langevin MD at ``temperature`` (the system's temperature unit) for ``n_steps`` steps of
    ``timestep`` (its time unit) and take its g(r) (``target_from_simulation`` takes
    ``rdf_kwargs``)."""
    system = build_system(system_name, **(system_kwargs or {}))
    sim = Simulation(system, temperature=temperature, n_steps=n_steps, stride=stride,
                     timestep=timestep, seed=seed, precision=precision,
                     frames_per_chunk=max(1, min(50, n_steps // stride // 10)))
    return target_from_simulation(sim, equilibration=equilibration, **rdf_kwargs)
