"""Scores for backmapped all-atom structures: RMSD, bond-graph validity, graph edits, diversity.

One code for every backmapping model (CGVAE, linear projection, Autograin decoder), following
Wang et al., "Generative coarse-graining of molecular conformations", ICML 2022 (CGVAE) and its
public code. Plain numpy in float64; positions in Å, ``[n_frames, n_atoms, 3]`` or ``[n_atoms, 3]``.
No alignment anywhere: the CG frame fixes position and orientation of the backmapped structure.

Bonds follow the CGVAE rule: atoms i, j are bonded when ``|r_i - r_j| < BOND_SCALE * (R_i + R_j)``
with ``R`` the Cambridge Structural Database covalent radii (as used by Jmol and Mercury).
"""

import numpy as np

BOND_SCALE = 1.3
COVALENT_RADII = {  # Å, CSD covalent radii
    "H": 0.23, "B": 0.83, "C": 0.68, "N": 0.68, "O": 0.68, "F": 0.64,
    "Si": 1.20, "P": 1.05, "S": 1.02, "Cl": 0.99, "Br": 1.21, "I": 1.40,
}  # fmt: skip
_Z = {"H": 1, "B": 5, "C": 6, "N": 7, "O": 8, "F": 9, "Si": 14, "P": 15, "S": 16, "Cl": 17,
      "Br": 35, "I": 53}  # fmt: skip
_RADIUS_BY_Z = np.full(119, np.nan)
for _symbol, _radius in COVALENT_RADII.items():
    _RADIUS_BY_Z[_Z[_symbol]] = _radius
CONVENTIONS = ("atom", "coordinate")


def _positions(x, ref):
    x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
    if x.ndim < 2 or ref.ndim < 2 or x.shape[-1] != 3 or x.shape[-2:] != ref.shape[-2:]:
        raise ValueError(f"positions must be [..., n_atoms, 3] alike, got {x.shape}, {ref.shape}")
    try:
        np.broadcast_shapes(x.shape, ref.shape)
    except ValueError:
        raise ValueError(f"frame axes of {x.shape} and {ref.shape} do not broadcast") from None
    return x, ref


def _mask(mask, n_atoms: int):
    if mask is None:
        return np.ones(n_atoms, bool)
    mask = np.asarray(mask, bool)
    if mask.shape != (n_atoms,):
        raise ValueError(f"mask must be [{n_atoms}] bool, got shape {mask.shape}")
    if not mask.any():
        raise ValueError("mask selects no atoms")
    return mask


def _out(value):
    """A Python scalar for a 0-d result, the array otherwise."""
    return value.item() if np.ndim(value) == 0 else value


def rmsd(x, ref, mask=None, convention: str = "atom"):
    """RMSD in Å between ``x`` and ``ref`` without alignment.

    x, ref: ``[..., n_atoms, 3]`` in Å, leading frame axes broadcast. mask: ``[n_atoms]`` bool,
    atoms included (e.g. ``heavy_atom_mask(z)``). ``convention="atom"``: sqrt of the mean over
    atoms of ``|dx|^2`` (the standard RMSD). ``convention="coordinate"``: sqrt of the mean over
    the 3N Cartesian components of ``dx^2`` = atom RMSD / sqrt(3), the convention of the CGVAE
    code (``np.sqrt(np.power(dxyz, 2).mean())``), for comparing with its published numbers.
    Returns a float for single frames, else an array of the broadcast frame shape.
    Raises ValueError on shape mismatch, an unknown convention or an empty mask.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    x, ref = _positions(x, ref)
    mask = _mask(mask, x.shape[-2])
    sq = np.sum((x[..., mask, :] - ref[..., mask, :]) ** 2, axis=-1).mean(axis=-1)
    return _out(np.sqrt(sq / 3.0 if convention == "coordinate" else sq))


def heavy_atom_mask(atomic_numbers) -> np.ndarray:
    """``[n_atoms]`` bool, True for every atom that is not hydrogen (Z != 1)."""
    return np.asarray(atomic_numbers) != 1


def _radii(atomic_numbers) -> np.ndarray:
    z = np.asarray(atomic_numbers, dtype=int)
    known = (z >= 0) & (z < _RADIUS_BY_Z.size)
    radii = np.full(z.shape, np.nan)
    radii[known] = _RADIUS_BY_Z[z[known]]
    if np.isnan(radii).any():
        bad = sorted(set(z[np.isnan(radii)].tolist()))
        elements = ", ".join(COVALENT_RADII)
        raise ValueError(f"no covalent radius for atomic number(s) {bad}; known: {elements}")
    return radii


def bond_matrix(positions, atomic_numbers) -> np.ndarray:
    """Bond graph: ``[..., n_atoms, n_atoms]`` bool, symmetric, False on the diagonal.

    positions: ``[..., n_atoms, 3]`` in Å; atomic_numbers: ``[n_atoms]``. Atoms i, j are bonded
    when their distance is below ``BOND_SCALE * (R_i + R_j)`` (CSD covalent radii ``R``), the
    rule of the CGVAE code. Raises ValueError for an element without a radius or bad shapes.
    """
    positions = np.asarray(positions, np.float64)
    radii = _radii(atomic_numbers)
    if positions.ndim < 2 or positions.shape[-1] != 3 or radii.shape != positions.shape[-2:-1]:
        raise ValueError(
            f"positions {positions.shape} and atomic numbers {radii.shape} "
            "must be [..., n_atoms, 3] and [n_atoms]"
        )
    d = np.linalg.norm(positions[..., :, None, :] - positions[..., None, :, :], axis=-1)
    bonded = d < BOND_SCALE * (radii[:, None] + radii[None, :])
    bonded[..., np.arange(radii.size), np.arange(radii.size)] = False
    return bonded


def bonds(positions, atomic_numbers) -> np.ndarray:
    """Bonded pairs of one frame, ``positions: [n_atoms, 3]`` Å: int ``[n_bonds, 2]``, i < j."""
    if np.ndim(positions) != 2:
        raise ValueError(f"bonds takes one frame [n_atoms, 3], got shape {np.shape(positions)}")
    return np.argwhere(np.triu(bond_matrix(positions, atomic_numbers), k=1))


def _graph_change(x, ref, atomic_numbers, mask):
    """(changed pairs, bonds of ref) over pairs i < j of ``mask`` atoms, per broadcast frame."""
    x, ref = _positions(x, ref)
    mask = _mask(mask, x.shape[-2])
    pairs = np.triu(mask[:, None] & mask[None, :], k=1)
    bx, br = bond_matrix(x, atomic_numbers), bond_matrix(ref, atomic_numbers)
    changed = ((bx != br) & pairs).sum(axis=(-2, -1))
    return changed, np.broadcast_to((br & pairs).sum(axis=(-2, -1)), changed.shape)


def graph_edit_ratio(x, ref, atomic_numbers, mask=None):
    """Changed bonds per bond of the reference: 0 for a structure with the reference's graph.

    The number of atom pairs whose bonded state differs between x and ref (the symmetric
    difference of the two bond sets) over the number of bonds of ref, both counted among the
    ``mask`` atoms. The CGVAE code divides the net change ``|n_bonds(ref) - n_bonds(x)|``
    instead, which equals this when bonds are only lost or only gained and is never larger.
    x: ``[..., n_atoms, 3]`` Å; ref: ``[n_atoms, 3]`` shared by all frames or one per frame.
    Returns a float or ``[n_frames]``. Raises ValueError on bad shapes or when ref has no bond.
    """
    changed, n_ref = _graph_change(x, ref, atomic_numbers, mask)
    if np.any(n_ref == 0):
        raise ValueError("the reference has no bonds among the selected atoms")
    return _out(changed / n_ref)


def is_valid(x, ref, atomic_numbers, mask=None):
    """True where the bond graph of x (among ``mask`` atoms) equals that of ref.

    A steric clash (non-bonded atoms closer than the bonding distance) adds a bond, so it also
    makes a structure invalid. Shapes as in ``graph_edit_ratio``; returns bool or bool array.
    """
    changed, _ = _graph_change(x, ref, atomic_numbers, mask)
    return _out(changed == 0)


def diversity(samples, ref, mask=None, convention: str = "atom") -> dict:
    """Spread of several backmapped samples of ONE CG frame, relative to their error.

    samples: ``[n_samples, n_atoms, 3]`` Å with n_samples >= 2; ref: ``[n_atoms, 3]`` Å.
    Returns ``{"pairwise_rmsd": mean RMSD over distinct sample pairs (Å), "rmsd_to_ref": mean
    RMSD of the samples to ref (Å), "ratio": pairwise_rmsd / rmsd_to_ref}`` (ratio 0 when all
    samples coincide). RMSD as in ``rmsd``. Raises ValueError with fewer than 2 samples.
    """
    samples = np.asarray(samples, np.float64)
    if samples.ndim != 3 or samples.shape[0] < 2:
        raise ValueError(f"need samples [n_samples >= 2, n_atoms, 3], got {samples.shape}")
    pair = rmsd(samples[:, None], samples[None, :], mask, convention)
    pairwise = float(pair[np.triu_indices(samples.shape[0], k=1)].mean())
    to_ref = float(np.mean(rmsd(samples, ref, mask, convention)))
    ratio = pairwise / to_ref if pairwise > 0 else 0.0
    return {"pairwise_rmsd": pairwise, "rmsd_to_ref": to_ref, "ratio": ratio}


def score(samples, ref, atomic_numbers, convention: str = "atom") -> dict:
    """Summary of a batch of backmapped structures, all values plain Python floats (JSON-able).

    samples: ``[n_frames, n_samples, n_atoms, 3]`` Å, or ``[n_frames, n_atoms, 3]`` for one
    sample per frame; ref: ``[n_frames, n_atoms, 3]`` Å. Keys: ``rmsd``, ``rmsd_heavy`` (Å, mean
    over frames and samples), ``valid_fraction``, ``valid_fraction_heavy`` (graph among heavy
    atoms), ``graph_edit_ratio``, ``graph_edit_ratio_heavy`` (means), ``convention``, and with
    n_samples >= 2 ``diversity`` and ``diversity_heavy`` (mean over frames of the ``ratio`` of
    ``diversity``). Raises ValueError on bad shapes (see ``rmsd`` and ``graph_edit_ratio``).
    """
    samples, ref = np.asarray(samples, np.float64), np.asarray(ref, np.float64)
    if ref.ndim != 3 or samples.ndim not in (3, 4) or samples.shape[0] != ref.shape[0]:
        raise ValueError(
            f"need samples [n_frames, (n_samples,) n_atoms, 3] and ref "
            f"[n_frames, n_atoms, 3], got {samples.shape} and {ref.shape}"
        )
    if samples.ndim == 3:
        samples = samples[:, None]
    heavy = heavy_atom_mask(atomic_numbers)
    result: dict = {"convention": convention}
    for suffix, mask in (("", None), ("_heavy", heavy)):
        result["rmsd" + suffix] = float(np.mean(rmsd(samples, ref[:, None], mask, convention)))
        result["valid_fraction" + suffix] = float(
            np.mean(is_valid(samples, ref[:, None], atomic_numbers, mask))
        )
        result["graph_edit_ratio" + suffix] = float(
            np.mean(graph_edit_ratio(samples, ref[:, None], atomic_numbers, mask))
        )
        if samples.shape[1] >= 2:
            ratios = [
                diversity(s, r, mask, convention)["ratio"]
                for s, r in zip(samples, ref, strict=True)
            ]
            result["diversity" + suffix] = float(np.mean(ratios))
    return result
