"""MDsim's metric formulas written again by hand in numpy, line for line as its
``observable.ipynb`` computes them with torch (github.com/kyonofx/MDsim, Fu et al., TMLR 2023),
to check ``workbench.benchmark`` against. Each function names the MDsim function it mirrors."""

from __future__ import annotations

import numpy as np
from ase.io import Trajectory
from ase.neighborlist import NeighborList, natural_cutoffs


def mae(x, y, factor):
    """MDsim ``mae``."""
    return np.abs(x - y).mean() * factor


def distance_pbc(x0, x1, lattices):
    """MDsim ``distance_pbc``."""
    delta = np.abs(x0 - x1)
    lattices = lattices.reshape(-1, 1, 3)
    delta = np.where(delta > 0.5 * lattices, delta - lattices, delta)
    return np.sqrt((delta**2).sum(axis=-1))


def get_hr(traj, bins):
    """MDsim ``get_hr``: ``torch.cdist`` of every frame, ``np.histogram(density=True)``."""
    pdist = np.linalg.norm(traj[:, :, None, :] - traj[:, None, :, :], axis=-1).ravel()
    hist, _ = np.histogram(pdist, bins, density=True)
    return hist


def md17_load_run(path, gt_traj, stability_threshold=0.5, xlim=10.0, n_bins=500):
    """MDsim's MD17 ``load_run``: returns ``(collapse_pt, hr_mae)``; ``len(T)`` (the thermo
    log's lines) is the number of frames here."""
    traj = Trajectory(path)
    return md17_scores(traj[0], np.stack([x.positions for x in traj]), gt_traj,
                       stability_threshold, xlim, n_bins)


def md17_scores(atoms, run_traj, gt_traj, stability_threshold=0.5, xlim=10.0, n_bins=500):
    """The part of MDsim's MD17 ``load_run`` after reading the run: ``atoms`` its first frame,
    ``run_traj`` its positions ``[T, N, 3]``."""
    bins = np.linspace(1e-6, xlim, n_bins + 1)
    hist_gt = get_hr(gt_traj, bins)
    NL = NeighborList(natural_cutoffs(atoms), self_interaction=False)
    NL.update(atoms)
    bonds = np.array(NL.get_connectivity_matrix().todense().nonzero())
    box = np.array([30.0, 30.0, 30.0])
    mean_bond_lens = distance_pbc(gt_traj[:, bonds[0]], gt_traj[:, bonds[1]], box).mean(0)
    collapse_pt = len(run_traj)
    for i in range(1, len(run_traj)):
        bond_lens = distance_pbc(run_traj[(i - 1):i, bonds[0]], run_traj[(i - 1):i, bonds[1]],
                                 box)
        if np.abs(bond_lens[0] - mean_bond_lens).max() > stability_threshold:
            collapse_pt = i
            break
    hist_pred = get_hr(run_traj[0:collapse_pt], bins)
    return collapse_pt, mae(hist_pred, hist_gt, xlim)


def distance_pbc_select(x, lattices, indices0, indices1):
    """MDsim ``distance_pbc_select`` (``repeat`` / ``repeat_interleave`` as numpy tile /
    repeat)."""
    x0, x1 = x[:, indices0], x[:, indices1]
    x0_size, x1_size = x0.shape[1], x1.shape[1]
    x0 = np.tile(x0, (1, x1_size, 1))
    x1 = np.repeat(x1, x0_size, axis=1)
    delta = np.abs(x0 - x1)
    delta = np.where(delta > 0.5 * lattices, delta - lattices, delta)
    return np.sqrt((delta**2).sum(axis=-1))


def get_water_rdfs(data_seq, ptypes, lattices, bins):
    """MDsim ``get_water_rdfs``."""
    type2indices = {"H": ptypes == 1, "O": ptypes == 8}
    pairs = [("O", "O"), ("H", "H"), ("H", "O")]
    data_seq = ((data_seq / lattices) % 1) * lattices
    all_rdfs = {}
    for type1, type2 in pairs:
        data_pdist = distance_pbc_select(data_seq, lattices, type2indices[type1],
                                         type2indices[type2]).ravel()
        data_shape = data_pdist.shape[0]
        data_pdist = data_pdist[data_pdist != 0]
        data_hist, _ = np.histogram(data_pdist, bins)
        rho_data = data_shape / np.prod(lattices)
        Z_data = rho_data * 4 / 3 * np.pi * (bins[1:] ** 3 - bins[:-1] ** 3)
        all_rdfs[type1 + type2] = data_hist / Z_data
    return all_rdfs


def water_load_run(run_traj, atom_types, lattices, gt_rdfs, rdf_check_interval=10,
                   stability_threshold=3.0, xlim=6.0, n_bins=500):
    """MDsim's water ``load_run`` (stability and RDF part): ``(collapse_pt, rdf_error)`` with
    ``rdf_error`` for OO, HH, HO (``inf`` below 10 frames)."""
    bins = np.linspace(1e-6, xlim, n_bins + 1)
    collapse_pt = len(run_traj)
    for i in range(1, len(run_traj) - rdf_check_interval):
        current = get_water_rdfs(run_traj[i:i + rdf_check_interval], atom_types, lattices, bins)
        if max(mae(current[k], gt_rdfs[k], xlim) for k in ("OO", "HO", "HH")) > \
                stability_threshold:
            collapse_pt = i
            break
    if collapse_pt >= 10:
        rdf = get_water_rdfs(run_traj[:collapse_pt], atom_types, lattices, bins)
        return collapse_pt, [mae(rdf[k], gt_rdfs[k], xlim) for k in ("OO", "HH", "HO")]
    return collapse_pt, [np.inf] * 3


def get_diffusivity_traj(pos_seq, dilation=1):
    """MDsim ``get_diffusivity_traj``: ``pos_seq`` B x N x T x 3 -> B x (T - 1)."""
    bsize, time_steps = pos_seq.shape[0], pos_seq.shape[2]
    pos_seq = pos_seq - pos_seq.mean(1, keepdims=True)
    msd = ((pos_seq[:, :, 1:] - pos_seq[:, :, 0][:, :, None]) ** 2).sum(-1).mean(1)
    diff = msd / (np.arange(1, time_steps) * dilation) / 6
    return diff.reshape(bsize, time_steps - 1)


def get_smoothed_diff(xyz):
    """MDsim ``get_smoothed_diff`` (xyz: T x N x 3), its ``/ flip(arange(seq_len))`` kept."""
    seq_len = xyz.shape[0] - 1
    diff = np.zeros(seq_len)
    for i in range(seq_len):
        diff[:seq_len - i] += get_diffusivity_traj(
            xyz[i:].transpose(1, 0, 2)[None]).ravel()
    with np.errstate(divide="ignore"):
        return diff / np.flip(np.arange(seq_len))


def get_pmf(zg, kBT):
    """MDsim ``get_pmf`` on a surface ``zg[psi, phi]`` (PLUMED's layout): ``(F(phi),
    F(psi))``."""
    pmf = np.exp(-zg / kBT)
    pmf = pmf / pmf.sum()
    X, Y = pmf.sum(axis=0), pmf.sum(axis=1)
    with np.errstate(divide="ignore"):
        pmf_x, pmf_y = -kBT * np.log(X), -kBT * np.log(Y)
    return pmf_x - pmf_x.min(), pmf_y - pmf_y.min()
