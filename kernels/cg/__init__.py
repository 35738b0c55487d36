"""Coarse graining in pure JAX: mapping atoms to beads (``kernels.cg.mapping``) and the
multiscale coarse-graining (MS-CG) force-matching basis of a CG potential
(``kernels.cg.force_matching``).

Follows Noid et al., "The multiscale coarse-graining method. I", J. Chem. Phys. 128, 244114
(2008) for the mapping and the force map, and Izvekov & Voth, J. Phys. Chem. B 109, 2469 (2005)
for force matching with a linear basis.
"""
