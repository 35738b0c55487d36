"""Architectures of learned force fields as ``param`` descriptions: hyperparameters with the
papers' defaults, serialisable to JSON (stored with every training run), built into the flax
modules of ``kernels.mlff``.

    arch = architecture("schnet", cutoff=5.0)       # or architecture_from_dict(run_config)
    module = arch.module(n_species=3)                # kernels.mlff interface

``ARCHITECTURES`` maps the names users type (``workbench mlff train --arch NAME``) to the classes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import param


class Architecture(param.Parameterized):
    """Base class: a name, a cutoff and whatever hyperparameters the architecture has."""

    label: ClassVar[str] = ""
    reference: ClassVar[str] = ""

    cutoff = param.Number(default=5.0, bounds=(0.5, None), inclusive_bounds=(False, True),
                          doc="Radial cutoff (Å).")

    @property
    def arch_name(self) -> str:
        return next(k for k, v in ARCHITECTURES.items() if v is type(self))

    def module(self, n_species: int) -> Any:
        """The flax module (``kernels.mlff`` interface) for ``n_species`` species."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.param.values().items() if k != "name"}

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch_name, **self.hyperparameters()}


class PairMLP(Architecture):
    """Pair MLP baseline (``kernels.mlff.pair_mlp``): no many-body terms."""

    label = "Pair MLP"
    reference = "pair potential baseline (DiffSim / mdgrad style)"

    n_basis = param.Integer(default=32, bounds=(2, None), doc="Gaussians on [0, cutoff].")
    hidden = param.List(default=[64, 64], item_type=int, doc="Hidden layer widths.")

    def module(self, n_species: int) -> Any:
        from kernels.mlff.pair_mlp import PairMLP as Module

        return Module(n_species=n_species, cutoff=self.cutoff, n_basis=self.n_basis,
                      hidden=tuple(self.hidden))


#: name -> class; every architecture of the workbench
ARCHITECTURES: dict[str, type[Architecture]] = {"pair_mlp": PairMLP}


def architecture(name: str, **hyperparameters: Any) -> Architecture:
    """``ARCHITECTURES[name](**hyperparameters)``; ``ValueError`` for an unknown name or
    hyperparameter (the message lists the valid ones)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose one of {sorted(ARCHITECTURES)}")
    cls = ARCHITECTURES[name]
    unknown = set(hyperparameters) - set(cls.param) - {"arch"}
    if unknown:
        valid = sorted(set(cls.param) - {"name"})
        raise ValueError(f"{name} has no hyperparameter {sorted(unknown)}; it has {valid}")
    try:
        return cls(**{k: v for k, v in hyperparameters.items() if k != "arch"})
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def architecture_from_dict(d: dict[str, Any]) -> Architecture:
    """Inverse of ``Architecture.to_dict``."""
    return architecture(d["arch"], **{k: v for k, v in d.items() if k != "arch"})
