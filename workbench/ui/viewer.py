"""Live 3D molecular viewer: a Panel ``JSComponent`` around NGL (``viewer.js``), fed with float32
coordinates, and a playback wrapper over recorded frames.

* ``MoleculeViewer`` shows one periodic system (atoms coloured and sized by species, bonds where
  the system has them, the box edges) as ball-and-stick or spacefill, and streams new positions:
  ``update_positions(R)`` sends ``R`` as one binary float32 buffer and the browser moves the atoms
  without rebuilding anything. ``set_structure(...)`` replaces the whole system.
  ``set_beads(assignment, weights)`` draws coarse-grained beads over the atoms: translucent
  spheres at the weighted centres of their atoms, moving with them, atoms coloured by bead.
* ``TrajectoryPlayer`` keeps frames server-side and pushes the one a slider (or ``Player``) picks.

NGL's JavaScript comes from an installed pip package (see ``workbench.ui.ngl_assets``); the
browser asks for it once per page through the component's message channel, so the same component
works under ``panel serve`` and in a Jupyter notebook, with no CDN and no extra route.

Updates are rate-limited (``max_fps``, 60 by default) and coalesced: a frame not sent yet is
replaced by a newer one (latest wins, the newest always arrives), so a simulation that produces
frames faster than the browser draws never builds a queue, from whatever thread it calls.
"""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import panel as pn
import param

from workbench.ui.ngl_assets import NGLNotFoundError, ngl_bundle_source

if TYPE_CHECKING:
    from workbench.system import System

#: Okabe-Ito colour-blind-safe palette, for species that are not chemical elements
SPECIES_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
                   "#999999")

#: sphere radius for a non-element species: half of sigma = 1 in reduced LJ units
DEFAULT_REDUCED_RADIUS = 0.5


def _is_element(name: str) -> bool:
    from ase.data import chemical_symbols

    return name in chemical_symbols[1:]


def default_colors(species_names: Sequence[str], elements: bool | None = None) -> list[str]:
    """One ``#rrggbb`` colour per species: Jmol element colours when every name is a chemical
    symbol (or ``elements=True``), else the Okabe-Ito palette."""
    if elements is None:
        elements = bool(species_names) and all(_is_element(n) for n in species_names)
    if elements:
        from ase.data import atomic_numbers
        from ase.data.colors import jmol_colors

        rgb = [jmol_colors[atomic_numbers[n]] for n in species_names]
        return ["#" + "".join(f"{round(255 * c):02x}" for c in col) for col in rgb]
    return [SPECIES_PALETTE[i % len(SPECIES_PALETTE)] for i in range(len(species_names))]


def default_radii(species_names: Sequence[str], elements: bool | None = None) -> list[float]:
    """One spacefill radius per species (length units): van der Waals radii in Å for chemical
    elements (ASE's table, covalent radius + 0.8 Å where it has none), else 0.5 (reduced units,
    sigma / 2)."""
    if elements is None:
        elements = bool(species_names) and all(_is_element(n) for n in species_names)
    if not elements:
        return [DEFAULT_REDUCED_RADIUS] * len(species_names)
    from ase.data import atomic_numbers, covalent_radii, vdw_radii

    out = []
    for n in species_names:
        z = atomic_numbers[n]
        r = float(vdw_radii[z])
        out.append(r if np.isfinite(r) else float(covalent_radii[z]) + 0.8)
    return out


def _positions_bytes(R: Any, n_atoms: int | None = None) -> bytes:
    R = np.asarray(R)
    if R.ndim != 2 or R.shape[1] != 3:
        raise ValueError(f"positions must have shape [n_atoms, 3], got {R.shape}")
    if n_atoms is not None and R.shape[0] != n_atoms:
        raise ValueError(f"positions have {R.shape[0]} atoms, the viewer shows {n_atoms}; "
                         "use set_structure() to change the system")
    return np.ascontiguousarray(R, dtype="<f4").tobytes()


def system_style(system: System) -> dict[str, list]:
    """``{"colors", "radii"}`` per species of a ``workbench.System``: element colours and van der
    Waals radii for ASE-unit systems of elements; else the palette and sigma_ii / 2 (from the pair
    potential when it has ``sigma``)."""
    names = list(system.species_names)
    elements = system.units == "ase" and all(_is_element(n) for n in names)
    radii = default_radii(names, elements)
    if not elements and system.potential is not None:
        try:
            sigma = system.potential.full_params(len(names)).get("sigma")
        except ValueError:
            sigma = None
        if sigma is not None:
            sigma = np.asarray(sigma, dtype=float)
            diag = np.diag(sigma) if sigma.ndim == 2 else np.full(len(names), float(sigma))
            radii = (0.5 * diag).tolist()
    return {"colors": default_colors(names, elements), "radii": radii}


class MoleculeViewer(pn.custom.JSComponent):
    """Interactive 3D view of a periodic system, drawn by NGL in the browser.

    Positions travel as raw little-endian float32 bytes ``[n_atoms, 3]`` (length units), which
    Bokeh sends as a binary websocket buffer. Rotate with the left mouse button, zoom with the
    wheel, translate with the right button.
    """

    positions = param.Bytes(default=b"", doc="""
        Atom positions: little-endian float32 ``[n_atoms, 3]`` in C order, as bytes (length
        units). Set through ``update_positions`` / ``set_structure``.""")

    n_atoms = param.Integer(default=0, bounds=(0, None), constant=True, doc="Number of atoms.")

    species = param.List(default=[], item_type=int, doc="[n_atoms] species index of each atom.")

    species_names = param.List(default=[], item_type=str, doc="Name of each species.")

    colors = param.List(default=[], item_type=str, doc="""
        ``#rrggbb`` colour per species (element colours or a palette unless given).""")

    radii = param.List(default=[], item_type=(int, float), doc="""
        Spacefill radius per species (length units); ball-and-stick draws spheres of
        ``ball_scale`` times this.""")

    bonds = param.List(default=[], doc="[n_bonds, 2] atom index pairs; empty: no bonds.")

    box = param.List(default=None, allow_None=True, item_type=(int, float), doc="""
        [3] orthorhombic box side lengths (length units), drawn from the origin; None: no box.""")

    representation = param.Selector(default="ball+stick", objects=["ball+stick", "spacefill"])

    ball_scale = param.Number(default=0.25, bounds=(0.05, 1.0), doc="""
        Ball-and-stick sphere radius as a fraction of the spacefill radius.""")

    show_box = param.Boolean(default=True, doc="Draw the edges of the periodic box.")

    background_color = param.Color(default="#ffffff", doc="Colour behind the scene.")

    max_fps = param.Number(default=60, bounds=(0, None), doc="""
        Most position updates per second a server session sends (0: no limit); faster producers
        see intermediate frames dropped, never the newest one.""")

    beads = param.List(default=[], item_type=int, doc="""
        [n_atoms] bead of each atom (-1: in no bead); empty: no beads drawn. Set through
        ``set_beads``.""")

    bead_weights = param.List(default=[], item_type=(int, float), doc="""
        [n_atoms] weight of each atom in its bead's position (e.g. its mass).""")

    bead_colors = param.List(default=list(SPECIES_PALETTE), item_type=str, doc="""
        ``#rrggbb`` colour per bead (repeated when there are more beads).""")

    bead_radius = param.Number(default=1.8, bounds=(0, None), doc="""
        Radius of the translucent bead spheres (length units).""")

    bead_opacity = param.Number(default=0.35, bounds=(0, 1), doc="Opacity of the bead spheres.")

    color_by_bead = param.Boolean(default=True, doc="""
        Colour atoms by their bead (atoms in no bead grey) while beads are shown.""")

    frames_received = param.Integer(default=0, readonly=True, doc="""
        Position updates the browser has received (reported back a few times per second).""")

    _esm = pathlib.Path(__file__).parent / "viewer.js"

    def __init__(self, **params: Any):
        params.setdefault("height", 420)
        params.setdefault("sizing_mode", "stretch_width")
        super().__init__(**params)
        self._fill_defaults()
        self._pending: bytes | None = None
        self._pending_lock = threading.Lock()
        self._next_send = 0.0  # time.monotonic() before which no further frame is sent
        doc = pn.state.curdoc
        self._session_doc = doc if doc is not None and doc.session_context else None
        if self._session_doc is not None:
            pn.state.on_session_destroyed(self._forget_session)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_system(cls, system: System, **params: Any) -> MoleculeViewer:
        """A viewer of a ``workbench.System``. Reduced-unit (LJ) systems get the species palette
        and radius sigma_ii / 2 (from the pair potential when it has ``sigma``); ASE-unit systems
        with element names get element colours and van der Waals radii."""
        viewer = cls(**params)
        viewer.set_structure(system.positions, system.species, system.species_names, system.box,
                             bonds=system.bonds, **system_style(system))
        return viewer

    def set_structure(self, positions: Any, species: Any, species_names: Sequence[str],
                      box: Any = None, bonds: Any = None, colors: Sequence[str] | None = None,
                      radii: Sequence[float] | None = None) -> None:
        """Replace the system shown: positions ``[n_atoms, 3]`` and box ``[3]`` (length units),
        species ``[n_atoms]`` indexing ``species_names``, optional bonds ``[n_bonds, 2]``.
        Colours and radii per species default to the ones already set when the species names
        are unchanged, else to element or palette values."""
        R = np.asarray(positions)
        species = [int(s) for s in np.asarray(species).reshape(-1)]
        names = [str(n) for n in species_names]
        if len(species) != R.shape[0]:
            raise ValueError(f"species has {len(species)} entries for {R.shape[0]} atoms")
        if species and (min(species) < 0 or max(species) >= len(names)):
            raise ValueError(f"species indices must lie in [0, {len(names) - 1}]")
        bond_list: list[list[int]] = []
        if bonds is not None and len(bonds):
            b = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
            if b.min() < 0 or b.max() >= R.shape[0]:
                raise ValueError("bond indices must lie in [0, n_atoms)")
            bond_list = b.tolist()
        same_species = names == self.species_names
        if colors is None:
            colors = self.colors if same_species else default_colors(names)
        if radii is None:
            radii = self.radii if same_species else default_radii(names)
        if len(colors) != len(names) or len(radii) != len(names):
            raise ValueError(f"need one colour and one radius for each of the {len(names)} species")
        with param.edit_constant(self):
            self.param.update(
                positions=_positions_bytes(R), n_atoms=R.shape[0], species=species,
                species_names=names, colors=[str(c) for c in colors],
                radii=[float(r) for r in radii], bonds=bond_list,
                box=None if box is None else [float(x) for x in np.asarray(box).reshape(3)])

    def set_beads(self, assignment: Any, weights: Any = None) -> None:
        """Draw beads over the atoms: ``assignment [n_atoms]`` bead index of each atom (-1: in
        none), each bead a translucent sphere at the ``weights``-weighted centre of its atoms
        (``[n_atoms]``, e.g. masses; default equal), atoms coloured by bead. Centres are taken
        without periodic images (one molecule). ``set_beads(None)`` removes the beads."""
        if assignment is None:
            self.param.update(beads=[], bead_weights=[])
            return
        beads = np.asarray(assignment, np.int64).reshape(-1)
        w = np.ones(beads.size) if weights is None else np.asarray(weights, float).reshape(-1)
        if beads.size != self.n_atoms or w.size != self.n_atoms:
            raise ValueError(f"need a bead and a weight for each of the {self.n_atoms} atoms, "
                             f"got {beads.size} and {w.size}")
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("bead weights must be finite and >= 0")
        self.param.update(beads=beads.tolist(), bead_weights=w.tolist())

    def _fill_defaults(self) -> None:
        if self.positions and not self.n_atoms:
            with param.edit_constant(self):
                self.n_atoms = len(self.positions) // 12
        if not self.colors:
            self.colors = default_colors(self.species_names)
        if not self.radii:
            self.radii = default_radii(self.species_names)

    # -- streaming ----------------------------------------------------------------------------

    def update_positions(self, R: Any) -> None:
        """Send new positions ``R: [n_atoms, 3]`` (length units) to the browser; the structure
        (species, bonds, box) stays.

        Safe to call from any thread and as often as you like: at most ``max_fps`` frames a
        second go out and a frame not sent yet is replaced by a newer one, but the newest frame
        always arrives. In a server session the frame is handed to the session's event loop. In
        a notebook the model is updated from the calling code; the last frame of a burst is sent
        by the kernel's event loop (without a running event loop, e.g. from a plain thread,
        every frame is sent at once)."""
        data = _positions_bytes(R, self.n_atoms)
        doc = self._session_doc
        if doc is None:
            self._update_direct(data)
            return
        with self._pending_lock:
            already_scheduled = self._pending is not None
            self._pending = data
        if already_scheduled:
            time.sleep(0)  # let the event loop (waiting for the GIL) send the pending frame
            return
        try:  # thread-safe; wakes the session's event loop
            doc.add_next_tick_callback(self._flush_pending)
        except RuntimeError:  # the session is closing: nothing left to draw on
            with self._pending_lock:
                self._pending = None

    def _send(self, data: bytes) -> None:
        if self.max_fps:
            self._next_send = time.monotonic() + 1.0 / self.max_fps
        self.positions = data

    def _flush_pending(self) -> None:
        """Runs on the event loop: send the newest pending frame, or come back when ``max_fps``
        allows (timeout callbacks are only safe to add from the loop itself)."""
        delay = self._next_send - time.monotonic()
        doc = self._session_doc
        if delay > 0 and doc is not None:
            try:
                doc.add_timeout_callback(self._flush_pending, int(delay * 1000) + 1)
                return
            except RuntimeError:  # the session is closing: send now
                pass
        with self._pending_lock:
            data, self._pending = self._pending, None
        if data is not None:
            self._send(data)

    def _update_direct(self, data: bytes) -> None:
        if not self.max_fps or time.monotonic() >= self._next_send:
            with self._pending_lock:
                self._pending = None
            self._send(data)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._send(data)
            return
        with self._pending_lock:
            already_scheduled = self._pending is not None
            self._pending = data
        if not already_scheduled:
            loop.call_later(max(self._next_send - time.monotonic(), 0.0), self._flush_pending)

    def _forget_session(self, session_context: Any) -> None:
        self._session_doc = None
        with self._pending_lock:
            self._pending = None

    # -- browser messages ---------------------------------------------------------------------

    def _handle_msg(self, msg: Any) -> None:
        if not isinstance(msg, dict) or msg.get("type") != "ngl-source-request":
            return
        try:
            source = ngl_bundle_source()
        except NGLNotFoundError as e:
            self._send_msg({"type": "ngl-error", "message": str(e)})
            return
        self._send_msg({"type": "ngl-source", "source": source})


class TrajectoryPlayer(pn.viewable.Viewer):
    """A ``MoleculeViewer`` with a player over recorded frames kept server-side: moving the
    slider (or pressing play) pushes the chosen frame to the browser. ``append_frame`` records a
    live trajectory; with ``follow`` on, the view jumps to each new frame."""

    frame = param.Integer(default=0, bounds=(0, None), doc="Index of the frame shown.")

    follow = param.Boolean(default=True, doc="Show each appended frame as it arrives.")

    max_frames = param.Integer(default=2000, bounds=(1, None), doc="""
        Frames kept; the oldest are dropped beyond this (memory: 12 bytes per atom and frame).""")

    interval_ms = param.Integer(default=100, bounds=(10, None), doc="Playback step (ms).")

    def __init__(self, viewer: MoleculeViewer, frames: Any = None, **params: Any):
        super().__init__(**params)
        self.viewer = viewer
        self._frames: list[np.ndarray] = []
        self._quiet = False
        self._player = pn.widgets.Player(
            label="Frame", start=0, end=1, value=0, interval=self.interval_ms, step=1,
            loop_policy="loop", show_loop_controls=False, sizing_mode="stretch_width",
            disabled=True)
        self._player.param.watch(self._on_player, "value")
        if frames is not None:
            self.set_frames(frames)

    @classmethod
    def from_system(cls, system: System, frames: Any = None, **params: Any
                    ) -> TrajectoryPlayer:
        return cls(MoleculeViewer.from_system(system), frames=frames, **params)

    @property
    def n_frames(self) -> int:
        return len(self._frames)

    def set_frames(self, frames: Any) -> None:
        """Replace the recording: ``frames: [n_frames, n_atoms, 3]`` (length units)."""
        arr = np.asarray(frames, dtype=np.float32)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"frames must have shape [n_frames, n_atoms, 3], got {arr.shape}")
        self._frames = list(arr[-self.max_frames:])
        self._sync_player(self.n_frames - 1 if self.follow else 0)

    def append_frame(self, R: Any) -> None:
        """Record positions ``R: [n_atoms, 3]`` as the newest frame."""
        self.extend_frames([R])

    def extend_frames(self, frames: Any, show: bool = True) -> None:
        """Record frames ``[k, n_atoms, 3]`` in one go (one player update). ``show=False`` moves
        the player to the newest frame without sending it to the viewer, for a live view that
        has already shown it."""
        self._frames.extend(np.array(R, dtype=np.float32) for R in frames)
        del self._frames[:-self.max_frames]
        self._quiet = not show
        try:
            self._sync_player(self.n_frames - 1 if self.follow
                              else min(self.frame, self.n_frames - 1))
        finally:
            self._quiet = False

    def _sync_player(self, frame: int) -> None:
        end = max(self.n_frames - 1, 1)
        self._player.param.update(end=end, disabled=self.n_frames < 2)
        self.param.frame.bounds = (0, max(self.n_frames - 1, 0))
        if frame == self.frame and self.n_frames:
            self._show(frame)
        self.frame = max(frame, 0)

    def _on_player(self, event: param.parameterized.Event) -> None:
        if 0 <= event.new < self.n_frames:
            self.frame = event.new

    @param.depends("frame", watch=True)
    def _on_frame(self) -> None:
        self._player.value = self.frame
        self._show(self.frame)

    @param.depends("interval_ms", watch=True)
    def _on_interval(self) -> None:
        self._player.interval = self.interval_ms

    def _show(self, frame: int) -> None:
        if 0 <= frame < self.n_frames and not self._quiet:
            self.viewer.update_positions(self._frames[frame])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.viewer, self._player, sizing_mode="stretch_width")
