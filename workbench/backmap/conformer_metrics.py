"""Scores for generated conformer ensembles: heavy-atom RMSD after alignment, COV and MAT.

Follows the evaluation of ConfVAE (Xu et al., ICML 2021), ConfGF (Shi et al., ICML 2021) and
GeoDiff (Xu et al., ICLR 2022): hydrogens removed, RMSD after the best rigid alignment over the
symmetry-equivalent atom orders of the molecular graph (RDKit ``rdMolAlign.GetBestRMS`` on
``RemoveHs`` molecules: proper rotations only, no reflections, conjugated terminal groups such
as the two O of a carboxylate treated as equivalent), then per molecule

- COV-R: fraction of reference conformers with a generated one within ``threshold`` (<=),
- MAT-R: mean over reference conformers of the smallest RMSD to a generated one (Å),
- COV-P, MAT-P: the same with generated and reference swapped (precision, as GeoDiff reports),

and over molecules the mean and median of each (``summarize``). The papers use
``threshold = 0.5`` Å on GEOM-QM9 and 1.25 Å on GEOM-Drugs, and generate twice as many
conformers as the molecule has reference ones (``GENERATED_PER_REFERENCE``).

The same numbers as ``GetBestRMS`` pair by pair, faster: the symmetry matches of the heavy-atom
graph are found once per molecule (RDKit substructure matching of the molecule on itself,
``uniquify=False``) and all (generated, reference, match) alignments are done at once in numpy
(Kabsch, from the singular values of the 3x3 covariance). Positions are Å, float64, in the atom
order of ``Chem.AddHs(Chem.MolFromSmiles(smiles))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["GENERATED_PER_REFERENCE", "conformer_rmsd_matrix", "cov_mat", "evaluate",
           "heavy_atom_matches", "summarize"]

GENERATED_PER_REFERENCE = 2
"""Generated conformers per reference conformer in the papers' COV/MAT evaluation."""

_TERMINAL = "[O,N;D1;$([O,N;D1]-[*]=[O,N;D1]),$([O,N;D1]=[*]-[O,N;D1])]~[*]"
# the pattern of RDKit's MolAlign::details::symmetrizeTerminalAtoms (AlignMolecules.cpp)


def _molecule(smiles):
    """``Chem.AddHs`` molecule of ``smiles`` (a SMILES string or an RDKit Mol with its Hs)."""
    from rdkit import Chem

    if isinstance(smiles, Chem.Mol):
        return smiles
    mol = Chem.MolFromSmiles(str(smiles))
    if mol is None:
        raise ValueError(f"RDKit cannot parse SMILES {smiles!r}")
    return Chem.AddHs(mol)


def heavy_atom_matches(smiles) -> np.ndarray:
    """Symmetry-equivalent orders of the heavy atoms: int ``[n_matches, n_heavy]``.

    Row k maps heavy atom i (in the atom order of ``Chem.AddHs(Chem.MolFromSmiles(smiles))``)
    to atom ``matches[k, i]``; row 0 is the identity. The matches are those ``GetBestRMS``
    tries: RDKit substructure matches of the hydrogen-free molecule on itself
    (``uniquify=False``, no chirality), with conjugated terminal O/N pairs made equivalent.
    smiles: a SMILES string or an RDKit Mol with explicit hydrogens. Raises ValueError for a
    SMILES RDKit cannot parse or a molecule without heavy atoms.
    """
    from rdkit import Chem

    mol = _molecule(smiles)
    heavy = np.array([a.GetAtomicNum() != 1 for a in mol.GetAtoms()])
    if not heavy.any():
        raise ValueError("the molecule has no heavy atoms")
    bare = Chem.RWMol(Chem.RemoveHs(mol, sanitize=False))
    if bare.GetNumAtoms() != heavy.sum():
        raise ValueError("RemoveHs kept hydrogens; give a molecule whose hydrogens are ordinary")
    bare.UpdatePropertyCache(strict=False)
    # GetBestRMS's query turns the bonds of conjugated terminal O/N into "single or double"
    # and ignores their charges; turning them into one bond type in the query and the target
    # alike finds the same self-matches.
    for o, x in bare.GetSubstructMatches(Chem.MolFromSmarts(_TERMINAL)):
        bare.GetAtomWithIdx(o).SetFormalCharge(0)
        bare.GetBondBetweenAtoms(o, x).SetBondType(Chem.BondType.SINGLE)
    matches = bare.GetSubstructMatches(bare, uniquify=False, useChirality=False,
                                       maxMatches=1_000_000)
    index = np.flatnonzero(heavy)
    matches = index[np.array(sorted(matches))]  # the identity sorts first
    return matches


def conformer_rmsd_matrix(generated, reference, smiles, matches=None) -> np.ndarray:
    """Heavy-atom RMSD after the best alignment, float64 ``[n_generated, n_reference]`` (Å).

    generated: ``[n_generated, n_atoms, 3]`` Å; reference: ``[n_reference, n_atoms, 3]`` Å, both
    in the atom order of ``Chem.AddHs(Chem.MolFromSmiles(smiles))``; smiles: a SMILES string or
    an RDKit Mol with hydrogens; matches: ``heavy_atom_matches(smiles)``, to reuse. Entry (i, j)
    equals ``rdMolAlign.GetBestRMS(RemoveHs(generated i), RemoveHs(reference j))``: the minimum
    over symmetry matches of the RMSD after the optimal proper rotation and translation.
    Raises ValueError on shapes that do not fit the molecule.
    """
    if matches is None:
        matches = heavy_atom_matches(smiles)
    matches = np.asarray(matches)
    gen, ref = (np.asarray(x, np.float64) for x in (generated, reference))
    n_atoms = _molecule(smiles).GetNumAtoms()
    for name, x in (("generated", gen), ("reference", ref)):
        if x.ndim != 3 or x.shape[1:] != (n_atoms, 3):
            raise ValueError(f"{name} must be [n, {n_atoms}, 3] for this molecule, got {x.shape}")
    p = gen[:, matches[0]]  # [G, n, 3]
    q = ref[:, matches]  # [R, M, n, 3]
    p = p - p.mean(axis=1, keepdims=True)
    q = q - q.mean(axis=2, keepdims=True)
    n = matches.shape[1]
    out = np.empty((len(p), len(ref)))
    for start in range(0, len(p), 64):  # bounded memory: 64 x R x M 3x3 matrices at a time
        pg = p[start:start + 64]
        cov = np.einsum("gia,rmib->grmab", pg, q)
        s = np.linalg.svd(cov, compute_uv=False)
        s[..., 2] *= np.sign(np.linalg.det(cov))  # proper rotations only
        sq = (np.sum(pg**2, axis=(1, 2))[:, None, None] + np.sum(q**2, axis=(2, 3))[None]
              - 2.0 * s.sum(axis=-1))
        out[start:start + 64] = np.sqrt(np.maximum(sq.min(axis=2), 0.0) / n)
    return out


def cov_mat(generated, reference, smiles, threshold: float = 0.5, *,
            rmsd=None) -> dict[str, Any]:
    """COV and MAT of one molecule's generated conformers against its reference conformers.

    generated ``[n_generated, n_atoms, 3]``, reference ``[n_reference, n_atoms, 3]`` (Å), smiles:
    as in ``conformer_rmsd_matrix``; or ``rmsd``, that matrix when already computed (then the
    positions are not used). threshold: Å (0.5 for QM9-size molecules, 1.25 for GEOM-Drugs).
    Returns plain floats: ``cov_r``, ``mat_r`` (Å), ``cov_p``, ``mat_p`` (Å), ``threshold``,
    ``n_generated``, ``n_reference``. COV counts RMSD <= threshold, as GeoDiff's code does.
    The papers generate ``GENERATED_PER_REFERENCE`` (2) x n_reference conformers.
    Raises ValueError for an empty ensemble or a threshold not above 0.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be above 0 Å, not {threshold!r}")
    d = conformer_rmsd_matrix(generated, reference, smiles) if rmsd is None else np.asarray(rmsd)
    if d.ndim != 2 or 0 in d.shape:
        raise ValueError(f"need at least one generated and one reference conformer, got {d.shape}")
    ref_min, gen_min = d.min(axis=0), d.min(axis=1)
    return {"cov_r": float(np.mean(ref_min <= threshold)), "mat_r": float(ref_min.mean()),
            "cov_p": float(np.mean(gen_min <= threshold)), "mat_p": float(gen_min.mean()),
            "threshold": float(threshold), "n_generated": int(d.shape[0]),
            "n_reference": int(d.shape[1])}


def summarize(scores: Iterable[dict[str, Any]]) -> dict[str, float]:
    """Mean and median over molecules of the ``cov_mat`` results, as the papers' tables:
    ``{"cov_r_mean", "cov_r_median", "mat_r_mean", ..., "n_molecules"}``. ValueError if empty."""
    scores = list(scores)
    if not scores:
        raise ValueError("no molecules to summarize")
    out: dict[str, float] = {}
    for key in ("cov_r", "mat_r", "cov_p", "mat_p"):
        values = np.array([s[key] for s in scores])
        out[f"{key}_mean"], out[f"{key}_median"] = float(values.mean()), float(np.median(values))
    out["n_molecules"] = len(scores)
    return out


def evaluate(molecules: Iterable[Any], generate: Callable[[str, int], Any], *,
             threshold: float = 0.5, ratio: int = GENERATED_PER_REFERENCE) -> dict[str, Any]:
    """Score a conformer generator on reference molecules, the same way for every generator.

    molecules: objects with ``smiles`` and ``conformers`` ``[n_reference, n_atoms, 3]`` Å (e.g.
    ``ConformerSet.test()`` of ``workbench.backmap.conformer_data``); generate(smiles, n):
    ``[n, n_atoms, 3]`` Å in the AddHs atom order, called with ``n = ratio * n_reference``.
    Returns ``{"per_molecule": {smiles: cov_mat result}, "summary": summarize(...)}``.
    """
    per = {}
    for mol in molecules:
        n_ref = len(mol.conformers)
        if n_ref == 0:
            continue
        gen = generate(mol.smiles, ratio * n_ref)
        per[mol.smiles] = cov_mat(gen, mol.conformers, mol.smiles, threshold)
    return {"per_molecule": per, "summary": summarize(per.values())}
