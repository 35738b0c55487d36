"""MDsim's simulation protocols as stored values, and a short one run with a learned model.

Expected numbers: MDsim's configs/simulate/{aspirin,water,ala}.yml (timestep, temperature,
steps, save_freq, ttime, friction) and simulate.py (timestep in fs, ttime in steps, the Langevin
friction handed to ASE unconverted: 0.5 per ASE time unit = 0.5 * 0.09823 / fs).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.cluster import Icosahedron

from tests.lj_pair_mlp import AR, lj_model
from workbench.benchmark import PROTOCOLS, get_protocol


def test_protocols_are_mdsims():
    md17, water, ala = PROTOCOLS["md17"], PROTOCOLS["water"], PROTOCOLS["alanine_dipeptide"]
    assert (md17.integrator, md17.temperature_K, md17.timestep_fs, md17.n_steps, md17.stride,
            md17.thermostat_time_fs) == ("nose_hoover", 500.0, 0.5, 600_000, 100, 10.0)
    assert md17.simulated_ps == 300.0 and md17.frame_interval_ps == 0.05
    assert (water.temperature_K, water.timestep_fs, water.simulated_ps,
            water.frame_interval_ps, water.thermostat_time_fs) == (300.0, 1.0, 500.0, 0.1, 20.0)
    assert ala.integrator == "langevin" and ala.simulated_ps == 5000.0
    assert ala.frame_interval_ps == 1.0
    assert ala.friction_per_fs == pytest.approx(0.04911, rel=1e-3)
    short = get_protocol("water", short=True)
    assert short.n_steps == 2000 and short.stride == 100 and short.timestep_fs == 1.0
    with pytest.raises(ValueError, match="known: md17, water, alanine_dipeptide"):
        get_protocol("md22")


def test_a_short_protocol_runs_a_learned_model_with_its_thermostat_time():
    model = lj_model((AR,), cutoff=5.0, hidden=(16, 16))
    atoms = Icosahedron("Ar", 2, latticeconstant=5.26)
    protocol = PROTOCOLS["md17"].short(n_frames=4)
    sim = protocol.simulation(model, atoms, seed=1)
    assert (sim.integrator, sim.thermostat_time, sim.timestep) == ("nose_hoover", 10.0, 0.5)
    traj = sim.run(progress=False)
    assert sim.status == "completed" and len(traj.thermo["temperature"]) == 4
    assert sim.config()["thermostat_time"] == 10.0
    # the thermostat time reaches the integrator: another one, another trajectory
    other = protocol.simulation(model, atoms, seed=1, thermostat_time=500.0)
    other.run(progress=False)
    assert not np.allclose(other.trajectory.thermo["temperature"], traj.thermo["temperature"])
    with pytest.raises(ValueError, match="needs a structure"):
        protocol.simulation(model)
