"""What a view or notebook needs to know about the analytic pair-potential families that a
``PairPotential`` can take (``kernels.potentials.FAMILIES``): parameter names, defaults, and
which must be strictly positive, as plain values without the kernel's functions, so the UI
layer never imports ``kernels``."""

from __future__ import annotations

from dataclasses import dataclass

from kernels.potentials import FAMILIES, get_family


@dataclass(frozen=True)
class FamilyInfo:
    """One family: ``defaults`` ``{parameter: value}`` in the family's order (lengths in the
    system's length unit, energies in its energy unit, exponents dimensionless); ``positive``
    names the parameters that must be > 0."""

    name: str
    description: str
    defaults: dict[str, float]
    positive: tuple[str, ...]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.defaults)


def family_info(name: str) -> FamilyInfo:
    """The family called ``name`` (a ``ValueError`` listing the known names otherwise)."""
    fam = get_family(name)
    return FamilyInfo(fam.name, fam.description, dict(fam.defaults), tuple(fam.positive))


def family_names() -> list[str]:
    """Names of the analytic families, in the kernel's order."""
    return list(FAMILIES)
