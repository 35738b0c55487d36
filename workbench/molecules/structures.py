"""Starting structures shipped with the workbench, and the recipe that made them.

``data/alanine_dipeptide.pdb``: alanine dipeptide (ACE-ALA-NME, 22 atoms, L-alanine), PDB v3
atom names as OpenMM's ``residues.xml`` / ``pdbNames.xml`` expect. Made by
`build_alanine_dipeptide` (and checked against it by the tests):

1. RDKit: SMILES ``CC(=O)N[C@@H](C)C(=O)NC`` with hydrogens, ETKDGv3 embedding (random seed 7),
   MMFF94 optimisation, then phi/psi set to (-80, 75) degrees (the C7eq basin);
2. atoms renamed and ordered by residue (ACE: H1 CH3 H2 H3 C O; ALA: N H CA HA CB HB1 HB2 HB3 C O;
   NME: N H C H1 H2 H3) by walking the RDKit graph;
3. OpenMM: AMBER ff14SB (``amber14-all.xml``) in vacuum, no cutoff, energy minimised on the
   Reference platform (tolerance 0.01 kJ/mol/nm). The minimum lies at phi ~ -75, psi ~ 54 deg.

The file is shipped (rather than rebuilt on every call) because RDKit's embedding may change
between RDKit versions; rebuilding it needs only RDKit and OpenMM, no network.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
ALANINE_DIPEPTIDE_SMILES = "CC(=O)N[C@@H](C)C(=O)NC"
_REMARKS = (
    "REMARK   1 ALANINE DIPEPTIDE (ACE-ALA-NME), AMBER FF14SB VACUUM ENERGY MINIMUM (C7EQ)\n"
    "REMARK   1 MADE BY workbench.molecules.structures.build_alanine_dipeptide: RDKIT ETKDGV3\n"
    "REMARK   1 EMBEDDING OF CC(=O)N[C@@H](C)C(=O)NC, MMFF94, PHI/PSI SET TO -80/75 DEG,\n"
    "REMARK   1 OPENMM AMBER14-ALL.XML MINIMISATION (REFERENCE PLATFORM)\n"
)


def alanine_dipeptide_pdb() -> Path:
    """Path of the shipped alanine dipeptide PDB file."""
    return DATA / "alanine_dipeptide.pdb"


def build_alanine_dipeptide(seed: int = 7, phi_psi_deg: tuple[float, float] = (-80.0, 75.0),
                            minimize: bool = True) -> str:
    """The text of an alanine dipeptide PDB file, made as the module docstring says."""
    import openmm as mm
    from openmm import app, unit
    from rdkit import Chem
    from rdkit.Chem import AllChem, rdMolTransforms

    mol = Chem.AddHs(Chem.MolFromSmiles(ALANINE_DIPEPTIDE_SMILES))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError("RDKit could not embed alanine dipeptide")
    AllChem.MMFFOptimizeMolecule(mol)
    conf = mol.GetConformer()
    # heavy atoms in SMILES order
    ch3_ace, c_ace, o_ace, n, ca, cb, c, o, n_nme, c_nme = range(10)
    rdMolTransforms.SetDihedralDeg(conf, c_ace, n, ca, c, float(phi_psi_deg[0]))
    rdMolTransforms.SetDihedralDeg(conf, n, ca, c, n_nme, float(phi_psi_deg[1]))
    xyz = conf.GetPositions()  # Å

    def hydrogens(i: int) -> list[int]:
        return sorted(a.GetIdx() for a in mol.GetAtomWithIdx(i).GetNeighbors()
                      if a.GetAtomicNum() == 1)

    h = {i: hydrogens(i) for i in (ch3_ace, n, ca, cb, n_nme, c_nme)}
    residues = [
        ("ACE", [(h[ch3_ace][0], "H1"), (ch3_ace, "CH3"), (h[ch3_ace][1], "H2"),
                 (h[ch3_ace][2], "H3"), (c_ace, "C"), (o_ace, "O")]),
        ("ALA", [(n, "N"), (h[n][0], "H"), (ca, "CA"), (h[ca][0], "HA"), (cb, "CB"),
                 (h[cb][0], "HB1"), (h[cb][1], "HB2"), (h[cb][2], "HB3"), (c, "C"), (o, "O")]),
        ("NME", [(n_nme, "N"), (h[n_nme][0], "H"), (c_nme, "C"), (h[c_nme][0], "H1"),
                 (h[c_nme][1], "H2"), (h[c_nme][2], "H3")]),
    ]
    topology = app.Topology()
    chain = topology.addChain()
    atoms, positions = {}, []
    for name, members in residues:
        residue = topology.addResidue(name, chain)
        for i, atom_name in members:
            element = app.element.Element.getByAtomicNumber(mol.GetAtomWithIdx(i).GetAtomicNum())
            atoms[i] = topology.addAtom(atom_name, element, residue)
            positions.append(xyz[i] / 10.0)  # nm
    for bond in mol.GetBonds():
        topology.addBond(atoms[bond.GetBeginAtomIdx()], atoms[bond.GetEndAtomIdx()])
    positions = np.array(positions)
    if minimize:
        system = app.ForceField("amber14-all.xml").createSystem(
            topology, nonbondedMethod=app.NoCutoff, constraints=None)
        ctx = mm.Context(system, mm.VerletIntegrator(0.001),
                         mm.Platform.getPlatformByName("Reference"))
        ctx.setPositions(positions)
        mm.LocalEnergyMinimizer.minimize(ctx, 0.01, 0)
        positions = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(
            unit.nanometer)
    out = io.StringIO()
    app.PDBFile.writeFile(topology, positions * 10.0 * unit.angstrom, out)
    lines = [ln for ln in out.getvalue().splitlines(keepends=True) if not ln.startswith("REMARK")]
    return _REMARKS + "".join(lines)


def write_alanine_dipeptide(path: Path | None = None) -> Path:
    """Rebuild the shipped PDB file (``python -m workbench.molecules.structures``)."""
    path = Path(path or alanine_dipeptide_pdb())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_alanine_dipeptide())
    return path


if __name__ == "__main__":
    print(write_alanine_dipeptide())
