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

    #: neighbour-list skin (Å) and spare capacity for MD: message-passing models pay per edge,
    #: so a tight list is fastest (SchNet on 192 waters: 1.7x the steps/s of a 1 Å skin with
    #: capacity 1.25); the pair MLP is so cheap per edge that list rebuilds dominate instead
    md_skin: ClassVar[float] = 0.5
    md_capacity: ClassVar[float] = 1.1

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
    md_skin = 1.0  # 64 waters: 56 steps/s against 30 with a 0.5 Å skin (rebuilds dominate)
    md_capacity = 1.25
    reference = "pair potential baseline (DiffSim / mdgrad style)"

    n_basis = param.Integer(default=32, bounds=(2, None), doc="Gaussians on [0, cutoff].")
    hidden = param.List(default=[64, 64], item_type=int, doc="Hidden layer widths.")

    def module(self, n_species: int) -> Any:
        from kernels.mlff.pair_mlp import PairMLP as Module

        return Module(n_species=n_species, cutoff=self.cutoff, n_basis=self.n_basis,
                      hidden=tuple(self.hidden))


class SchNet(Architecture):
    """SchNet (``kernels.mlff.schnet``): continuous-filter convolutions, invariant features."""

    label = "SchNet"
    reference = ("Schütt et al., J. Chem. Phys. 148, 241722 (2018); defaults of schnetpack 2 "
                 "(written in flax here: no maintained JAX package offers it)")

    n_features = param.Integer(default=128, bounds=(1, None), doc="Atom feature width.")
    n_filters = param.Integer(default=128, bounds=(1, None), doc="Filter width of the "
                              "continuous-filter convolutions.")
    n_interactions = param.Integer(default=6, bounds=(1, None), doc="Interaction blocks.")
    n_gaussians = param.Integer(default=50, bounds=(2, None), doc="Gaussians on [0, cutoff] "
                                "(width = spacing), the filter network's input.")

    def module(self, n_species: int) -> Any:
        from kernels.mlff.schnet import SchNet as Module

        return Module(n_species=n_species, cutoff=self.cutoff, n_features=self.n_features,
                      n_filters=self.n_filters, n_interactions=self.n_interactions,
                      n_gaussians=self.n_gaussians)


class PaiNN(Architecture):
    """PaiNN (``kernels.mlff.painn``): scalar and vector features, equivariant messages."""

    label = "PaiNN"
    reference = ("Schütt, Unke, Gastegger, ICML 2021 (PMLR 139, 9377); defaults of schnetpack 2 "
                 "(written in flax here: no maintained JAX package offers it)")

    n_features = param.Integer(default=128, bounds=(1, None), doc="Width of the scalar and "
                               "vector features.")
    n_interactions = param.Integer(default=3, bounds=(1, None), doc="Message + update rounds.")
    n_bessel = param.Integer(default=20, bounds=(1, None), doc="Bessel functions "
                             "sin(k pi r / r_c) / r of the radial filters.")

    def module(self, n_species: int) -> Any:
        from kernels.mlff.painn import PaiNN as Module

        return Module(n_species=n_species, cutoff=self.cutoff, n_features=self.n_features,
                      n_interactions=self.n_interactions, n_bessel=self.n_bessel)


class _MLIPArchitecture(Architecture):
    """An architecture of InstaDeep's ``mlip`` (``kernels.mlff.mlip_models``); subclasses name
    the network and list which of their parameters go into its ``Config``."""

    network: ClassVar[str] = ""
    config_names: ClassVar[tuple[str, ...]] = ()

    def mlip_config(self) -> dict[str, Any]:
        values = self.param.values()
        return {k: (tuple(values[k]) if isinstance(values[k], list) else values[k])
                for k in self.config_names if values[k] is not None}

    def module(self, n_species: int) -> Any:
        from kernels.mlff.mlip_models import MLIPNetwork

        avg = getattr(self, "avg_num_neighbors", None)
        return MLIPNetwork(network=self.network, n_species=n_species, cutoff=self.cutoff,
                           avg_num_neighbors=1.0 if avg is None else float(avg),
                           config=tuple(sorted(self.mlip_config().items())))


_AVG_NEIGHBORS_DOC = ("Mean number of neighbours within the cutoff; message sums are divided "
                      "by it. None: 1 (mlip's default); set it from the training data.")


class MACE(_MLIPArchitecture):
    """MACE from ``mlip`` (``mlip.models.Mace``), mlip's defaults but for ``node_symmetry``
    (1, as mace-torch, instead of l_max: see its doc)."""

    label = "MACE"
    reference = ("Batatia et al., NeurIPS 2022 (arXiv:2206.07697); InstaDeep mlip "
                 "(mlip.models.Mace)")
    network = "mace"
    config_names = ("num_layers", "num_channels", "l_max", "node_symmetry", "correlation",
                    "num_rbf", "radial_mlp_hidden")

    num_layers = param.Integer(default=2, bounds=(1, None), doc="MACE layers.")
    num_channels = param.Integer(default=128, bounds=(1, None), doc="Channels per irrep.")
    l_max = param.Integer(default=3, bounds=(0, None), doc="Highest degree of the spherical "
                          "harmonics of the edge directions.")
    node_symmetry = param.Integer(default=1, bounds=(0, None), allow_None=True,
                                  doc="Highest degree kept in the node features (None: l_max, "
                                  "mlip's default). 1 here: node features 128x0e + 128x1o, "
                                  "mace-torch's default; l_max = 3 costs minutes a step on a "
                                  "few CPU cores.")
    correlation = param.Integer(default=3, bounds=(1, 4), doc="Body order of the atomic "
                                "cluster expansion product, minus one.")
    num_rbf = param.Integer(default=8, bounds=(1, None), doc="Bessel functions of the radial "
                            "embedding (polynomial envelope).")
    radial_mlp_hidden = param.List(default=[64, 64, 64], item_type=int, doc="Hidden widths "
                                   "of the radial MLP.")
    avg_num_neighbors = param.Number(default=None, bounds=(0, None), allow_None=True,
                                     inclusive_bounds=(False, True), doc=_AVG_NEIGHBORS_DOC)


class NequIP(_MLIPArchitecture):
    """NequIP from ``mlip`` (``mlip.models.Nequip``), mlip's defaults."""

    label = "NequIP"
    reference = ("Batzner et al., Nat. Commun. 13, 2453 (2022); InstaDeep mlip "
                 "(mlip.models.Nequip)")
    network = "nequip"
    config_names = ("num_layers", "target_irreps", "l_max", "num_rbf", "radial_mlp_hidden")

    num_layers = param.Integer(default=2, bounds=(1, None), doc="NequIP layers.")
    target_irreps = param.String(default="128x0e + 128x0o + 64x1o + 64x1e + 32x2e + 32x2o",
                                 doc="Irreps of the node features (e3nn notation, sorted).")
    l_max = param.Integer(default=3, bounds=(0, None), doc="Highest degree of the spherical "
                          "harmonics of the edge directions.")
    num_rbf = param.Integer(default=8, bounds=(1, None), doc="Bessel functions of the radial "
                            "embedding (polynomial envelope).")
    radial_mlp_hidden = param.List(default=[64, 64], item_type=int, doc="Hidden widths of the "
                                   "radial MLP.")
    avg_num_neighbors = param.Number(default=None, bounds=(0, None), allow_None=True,
                                     inclusive_bounds=(False, True), doc=_AVG_NEIGHBORS_DOC)


class ViSNet(_MLIPArchitecture):
    """ViSNet from ``mlip`` (``mlip.models.Visnet``), mlip's defaults."""

    label = "ViSNet"
    reference = ("Wang et al., Nat. Commun. 15, 313 (2024); InstaDeep mlip "
                 "(mlip.models.Visnet)")
    network = "visnet"
    config_names = ("num_layers", "num_channels", "l_max", "num_heads", "num_rbf")

    num_layers = param.Integer(default=4, bounds=(1, None), doc="ViSNet layers.")
    num_channels = param.Integer(default=256, bounds=(1, None), doc="Channels (a multiple of "
                                 "num_heads).")
    l_max = param.Integer(default=2, bounds=(1, None), doc="Highest degree of the runtime "
                          "geometry features.")
    num_heads = param.Integer(default=8, bounds=(1, None), doc="Attention heads.")
    num_rbf = param.Integer(default=32, bounds=(1, None), doc="Radial basis functions "
                            "(exponential-normal).")

    @param.depends("num_channels", "num_heads", watch=True, on_init=True)
    def _check_heads(self) -> None:
        if self.num_channels % self.num_heads:
            raise ValueError(f"num_channels ({self.num_channels}) must be a multiple of "
                             f"num_heads ({self.num_heads})")


#: name -> class; every architecture of the workbench
ARCHITECTURES: dict[str, type[Architecture]] = {
    "pair_mlp": PairMLP, "schnet": SchNet, "painn": PaiNN, "mace": MACE, "nequip": NequIP,
    "visnet": ViSNet}


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
