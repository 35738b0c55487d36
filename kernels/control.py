"""Control by differentiating through dynamics: learn a control potential that folds a
bead-spring polymer into a target shape.

Follows the control idea of mdgrad (Wang, Axelrod, Gomez-Bombarelli, "Differentiable molecular
simulations for control and learning", arXiv:2003.00868, 2020): the quantity optimised is not a
force field fitted to data but a *control*, an extra potential added to a fixed physical model,
chosen so that the dynamics it drives ends in a wanted state. The loss is measured on the
trajectory, and its gradient with respect to the control's parameters comes from
backpropagation through every integration step (reverse-mode automatic differentiation of the
``lax.scan`` of integrator steps; optionally ``jax.checkpoint``-ed chunks to bound memory).

The worked example (``notebooks/03_control_polymer.ipynb``, ``tests/kernels/test_control.py``):

- physical model (``bead_spring_chain``): ``n_beads`` beads in free space (``space.free``),
  harmonic bonds between neighbours along the chain (``energy.simple_spring_bond``), soft-sphere
  repulsion between non-bonded beads (``energy.soft_sphere_pair`` with an ``[N, N]`` epsilon
  matrix that is zero for bonded pairs);
- control (``pair_springs``): harmonic springs between chosen bead pairs (``smap.bond`` of
  ``energy.simple_spring``), each with a learnable strength ``k = k_scale * softplus(raw_k)``
  (positive, so the controlled energy stays bounded below) and, by default, a learnable rest
  length ``l = exp(log_l)``; with fixed rest lengths they are "contact" springs;
- target: a hairpin (``hairpin_structure``: two straight strands, bead ``i`` against bead
  ``N - 1 - i``); the loss (``distance_objective``) is the mean squared difference between the
  pair distances averaged over the last frames of the trajectory and over replicas, and the
  hairpin's (a squared dRMS; invariant to rotation, translation and reflection). The fraction
  of native contacts Q, the end-to-end distance and the radius of gyration are reported beside;
- dynamics: BAOAB Langevin (``kernels.integrators.make_integrator``, i.e.
  ``jax_md.simulate.nvt_langevin``) for a fixed number of steps from relaxed random coils,
  replicas by ``jax.vmap`` over PRNG keys (no neighbour list here, so ``vmap`` costs nothing
  extra), and Adam (``optax``) on the control parameters (``fit_control``).

Why high friction (``gamma = 10`` by default in ``control_loss``): the gradient is a pathwise
derivative, and the sensitivity of a trajectory to the parameters grows about exponentially
with time in underdamped dynamics. Measured for this chain (12 beads, per-replica gradient of a
contact loss, r.m.s. over 32 replicas): at ``gamma = 1`` it grew 13x from t = 1 to t = 2 and
another 190x by t = 4 (noise, not signal); at ``gamma = 10`` it grew 7x from t = 2 to t = 4 and
2x more by t = 8. Strong friction is the cheap cure here (mdgrad and DiffSim also use short or
truncated trajectories); the controlled chain, held by stiff springs, is then nearly harmonic
and its gradient is well behaved. A first design, fixed-length contact springs with a sharp
contact-map loss at gamma = 1, did not learn (gradient signs changed from key to key); hence the
smooth distance loss and the learnable rest lengths.

Measured (12 beads, 55 springs, 8 training coils, 250 steps, 2-core CPU, float32): 30 to 50
Adam steps at learning rate 0.1 take the loss from ~1.8 to 0.01-0.04 b^2 in 10-15 s (about 5 s
of it compilation); on new coils and new noise the controlled chain has R_ee ~1.0 b (target
1 b, uncontrolled ~4 b), Rg ~1.75 b (target 1.78 b) and Q ~0.9 (uncontrolled ~0.03).

Hand-written here, because jax_md has no such pieces: the loss factory (``control_loss``), the
shape observables (radius of gyration, end-to-end distance, smooth contact map: a few lines
each on top of ``space.map_bond``), the hairpin target and the Adam loop. The energies, the
space, the pair/bond mapping and the integrator are jax_md's.

Units: reduced units throughout. Lengths in bond lengths ``b`` (= the soft-sphere diameter by
default), energies in ``kT`` (``kT = 1``), masses in bead masses, time in ``b sqrt(m / kT)``;
spring constants in ``kT / b^2``, friction ``gamma`` in 1 / time.

Shapes: one configuration ``R: [n_beads, 3]``; replicas ``R: [n_replicas, n_beads, 3]``;
contact pairs ``[n_pairs, 2]`` (int); contact maps ``[n_pairs]``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax_md import energy, smap, space

from kernels.diffsim import scan_chunked
from kernels.integrators import make_integrator
from kernels.precision import float_dtype

Array = jnp.ndarray


# -- the physical model -------------------------------------------------------------------------


def chain_bonds(n_beads: int) -> np.ndarray:
    """``[n_beads - 1, 2]`` index pairs ``(i, i + 1)`` of a linear chain."""
    i = np.arange(n_beads - 1)
    return np.stack([i, i + 1], axis=1)


def bead_spring_chain(
    n_beads: int,
    *,
    bond_length: float = 1.0,
    bond_stiffness: float = 100.0,
    sigma: float = 1.0,
    epsilon: float = 25.0,
    alpha: float = 2.0,
    exclude: int = 1,
) -> tuple[Callable, Callable, Callable]:
    """A linear bead-spring polymer in free space.

    ``U(R) = sum_bonds k_b / 2 (r - b)^2 + sum_{|i - j| > exclude} eps / alpha (1 - r / sigma)^alpha
    [r < sigma]``: jax_md's ``simple_spring_bond`` and ``soft_sphere_pair`` (repulsion only,
    finite at overlap, so a differentiated trajectory does not blow up on a close contact).

    Args:
      n_beads: number of beads N.
      bond_length: rest length b of a bond (length units).
      bond_stiffness: k_b (energy / length^2); 100 kT/b^2 keeps bonds within ~10% of b.
      sigma, epsilon, alpha: soft-sphere diameter (length), strength (energy) and exponent.
        ``epsilon = 0`` gives an ideal (phantom) chain.
      exclude: pairs with ``|i - j| <= exclude`` feel no repulsion (1: bonded pairs only).

    Returns:
      ``displacement_fn, shift_fn`` (``space.free()``) and ``energy_fn(R, **unused) -> []``
      (energy units) for ``R: [n_beads, 3]``.
    """
    displacement_fn, shift_fn = space.free()
    bond_energy = energy.simple_spring_bond(
        displacement_fn, jnp.asarray(chain_bonds(n_beads)), length=bond_length,
        epsilon=bond_stiffness)
    i = np.arange(n_beads)
    eps = np.where(np.abs(i[:, None] - i[None, :]) > exclude, epsilon, 0.0)
    pair_energy = energy.soft_sphere_pair(displacement_fn, sigma=sigma, epsilon=eps,
                                          alpha=alpha)

    def energy_fn(R: Array, **unused: Any) -> Array:
        # the [N, N] strengths in the positions' dtype (a float64 matrix would promote)
        return bond_energy(R) + pair_energy(R, epsilon=jnp.asarray(eps, R.dtype))

    return displacement_fn, shift_fn, energy_fn


def ideal_chain_rg(n_beads: int, mean_square_bond: float = 1.0) -> float:
    """Mean-square radius of gyration of an ideal (freely jointed, phantom) chain, exact for
    any N: ``<Rg^2> = <l^2> (N^2 - 1) / (6 N)`` (from ``<r_ij^2> = |i - j| <l^2>``; tends to
    ``N b^2 / 6`` for long chains). Returns ``sqrt(<Rg^2>)`` (length units)."""
    return float(np.sqrt(mean_square_bond * (n_beads ** 2 - 1) / (6.0 * n_beads)))


def harmonic_bond_mean_square(bond_length: float, bond_stiffness: float, kT: float) -> float:
    """``<l^2>`` of one harmonic bond ``k / 2 (l - b)^2`` in 3D at ``kT`` (length^2), by
    quadrature of ``l^2 exp(-U / kT)`` (the phantom chain's bonds are independent)."""
    width = 12 * np.sqrt(kT / bond_stiffness)
    r = np.linspace(max(0.0, bond_length - width), bond_length + width, 20001)
    w = r ** 2 * np.exp(-0.5 * bond_stiffness * (r - bond_length) ** 2 / kT)
    return float(np.sum(w * r ** 2) / np.sum(w))


# -- shape observables --------------------------------------------------------------------------


def radius_of_gyration(R: Array) -> Array:
    """``sqrt(mean_i |R_i - R_cm|^2)`` (equal masses) of ``R: [n_beads, 3]`` -> ``[]``."""
    d = R - jnp.mean(R, axis=0)
    return jnp.sqrt(jnp.mean(jnp.sum(d * d, axis=-1)))


def end_to_end_distance(R: Array) -> Array:
    """``|R_{N-1} - R_0|`` of ``R: [n_beads, 3]`` -> ``[]`` (length units)."""
    d = R[-1] - R[0]
    return jnp.sqrt(jnp.sum(d * d))


def pair_distance_fn(displacement_fn: Callable, pairs: Array) -> Callable:
    """``r(R) -> [n_pairs]``: distances of the index ``pairs: [n_pairs, 2]`` in ``R``."""
    pairs = jnp.asarray(pairs)
    metric = space.map_bond(space.canonicalize_displacement_or_metric(displacement_fn))

    def r_of(R: Array) -> Array:
        return metric(R[pairs[:, 0]], R[pairs[:, 1]])

    return r_of


def shape_fn(displacement_fn: Callable, pairs: Array, *, r_contact: float = 1.3,
             width: float = 0.1) -> Callable:
    """``obs(R) -> {"r", "q": [n_pairs], "rg", "ree": []}`` of one frame ``R: [n_beads, 3]``:
    the distances of ``pairs``, their smooth contact map ``q = sigmoid((r_contact - r) /
    width)`` (1 in contact, 0 apart), the radius of gyration and the end-to-end distance
    (length units). The default ``r_contact = 1.3 b`` lies between a hairpin's contact (1 b)
    and its diagonal (sqrt(2) b)."""
    r_of = pair_distance_fn(displacement_fn, pairs)

    def obs(R: Array) -> dict:
        r = r_of(R)
        return {"r": r, "q": jax.nn.sigmoid((r_contact - r) / width),
                "rg": radius_of_gyration(R), "ree": end_to_end_distance(R)}

    return obs


def native_fraction(q: Array, native: Array) -> Array:
    """Fraction of native contacts formed, ``sum(q * native) / sum(native)`` (the folding
    coordinate Q; 1 when every target contact is made). ``q: [..., n_pairs]`` contact map,
    ``native: [n_pairs]`` 0/1 mask of the target's contacts."""
    native = jnp.asarray(native, jnp.asarray(q).dtype)
    return jnp.sum(q * native, axis=-1) / jnp.sum(native)


# -- the target: a hairpin ----------------------------------------------------------------------


def contact_pairs(n_beads: int, min_separation: int = 2) -> np.ndarray:
    """``[n_pairs, 2]`` all pairs ``i < j`` with ``j - i >= min_separation`` (bonded pairs are
    held by the chain itself)."""
    i, j = np.triu_indices(n_beads, k=min_separation)
    return np.stack([i, j], axis=1)


def hairpin_structure(n_beads: int, bond_length: float = 1.0) -> np.ndarray:
    """``[n_beads, 3]`` an ideal hairpin (``n_beads`` even): two straight strands one bond
    length apart, bead ``i`` paired with bead ``N - 1 - i``, the turn between ``N/2 - 1`` and
    ``N/2``. Every bond has length ``bond_length``."""
    if n_beads % 2:
        raise ValueError("a hairpin needs an even number of beads")
    h = n_beads // 2
    x = bond_length * np.concatenate([np.arange(h), np.arange(h)[::-1]])
    y = bond_length * np.concatenate([np.zeros(h), np.ones(h)])
    return np.stack([x, y, np.zeros(n_beads)], axis=1)


def hairpin_contacts(n_beads: int, pairs: np.ndarray) -> np.ndarray:
    """``[n_pairs]`` 0/1: the hairpin's native contacts, the pairs ``(i, N - 1 - i)`` across
    the two strands (at one bond length in ``hairpin_structure``)."""
    pairs = np.asarray(pairs)
    return (pairs[:, 0] + pairs[:, 1] == n_beads - 1).astype(float)


def distance_objective(r_target: Array) -> Callable:
    """``objective(obs) -> mean_p (<r_p> - r_target_p)^2``: the squared distance-matrix error
    (length^2; a rotation-, translation- and reflection-invariant shape distance whose square
    root is the dRMS) between the averaged pair distances ``obs["r"]`` and a target structure's
    ``r_target: [n_pairs]``. Distances, unlike a sharp contact map, change smoothly even for
    pairs far from contact, which keeps the gradient informative from a random coil."""

    def objective(obs: dict) -> Array:
        return jnp.mean((obs["r"] - jnp.asarray(r_target, obs["r"].dtype)) ** 2)

    return objective


# -- the control --------------------------------------------------------------------------------


def pair_springs(displacement_fn: Callable, pairs: Array, *, k_scale: float = 10.0,
                 learn_length: bool = True, rest_length: float = 1.0
                 ) -> tuple[Callable, Callable]:
    """A learnable, time-independent control: harmonic springs ``k_p / 2 (r_p - l_p)^2`` on
    the bead pairs ``pairs: [n_pairs, 2]`` (jax_md's ``simple_spring`` through ``smap.bond``).

    Parameters: ``{"raw_k": [n_pairs]}`` with ``k = k_scale * softplus(raw_k)`` (energy /
    length^2; positive, so the controlled energy stays bounded below; with ``k_scale`` about
    the strength needed, an Adam step of ~0.1 in ``raw_k`` is a useful change), and with
    ``learn_length`` also ``{"log_l": [n_pairs]}``, the rest lengths ``l = exp(log_l)``
    (length units; otherwise every spring has ``rest_length``, i.e. "contact" springs).

    Returns ``init_fn(k0=0.5, l0=None, dtype=float32) -> params`` (every spring at ``k0``;
    rest lengths ``l0``, scalar or ``[n_pairs]``, by default ``sqrt(|i - j|) b`` with ``b =
    rest_length``, the ideal chain's r.m.s. distances, so the initial control hardly deforms a
    coil; arrays of ``dtype``, the run's precision) and
    ``energy_fn(R, params) -> []`` (energy units).
    """
    pairs_np = np.asarray(pairs)
    metric = space.canonicalize_displacement_or_metric(displacement_fn)
    springs = smap.bond(energy.simple_spring, metric, jnp.asarray(pairs_np),
                        length=rest_length, epsilon=1.0, alpha=2.0)

    def init_fn(k0: float = 0.5, l0: float | Array | None = None,
                dtype: Any = jnp.float32) -> dict:
        n = pairs_np.shape[0]
        dtype = float_dtype(dtype)
        params = {"raw_k": jnp.full((n,), np.log(np.expm1(k0 / k_scale)), dtype)}  # softplus^-1
        if learn_length:
            sep = (pairs_np[:, 1] - pairs_np[:, 0]).astype(float)
            l0 = rest_length * np.sqrt(sep) if l0 is None else np.broadcast_to(l0, (n,))
            params["log_l"] = jnp.asarray(np.log(l0), dtype)
        return params

    def energy_fn(R: Array, params: dict) -> Array:
        k = spring_constants(params, k_scale).astype(R.dtype)
        if not learn_length:
            return springs(R, epsilon=k)
        return springs(R, epsilon=k, length=rest_lengths(params).astype(R.dtype))

    return init_fn, energy_fn


def spring_constants(params: dict, k_scale: float = 10.0) -> Array:
    """``[n_pairs]`` spring constants (energy / length^2) of ``pair_springs`` parameters."""
    return k_scale * jax.nn.softplus(params["raw_k"])


def rest_lengths(params: dict) -> Array:
    """``[n_pairs]`` rest lengths (length units) of ``pair_springs(learn_length=True)``."""
    return jnp.exp(params["log_l"])


# -- dynamics and the loss ----------------------------------------------------------------------


def straight_chain(n_replicas: int, n_beads: int, bond_length: float = 1.0,
                   dtype: Any = jnp.float32) -> Array:
    """``[n_replicas, n_beads, 3]`` straight chains along x (a start for ``sample_fn``)."""
    x = bond_length * jnp.arange(n_beads, dtype=dtype)
    R = jnp.stack([x, jnp.zeros_like(x), jnp.zeros_like(x)], axis=1)
    return jnp.broadcast_to(R, (n_replicas, n_beads, 3))


def sample_fn(energy_fn: Callable, shift_fn: Callable, observable_fn: Callable | None = None,
              *, dt: float = 0.01, kT: float = 1.0, gamma: float = 1.0) -> Callable:
    """Forward Langevin MD (no gradient), one run per replica; for start configurations and
    reference statistics.

    Returns ``sample(key, R, n_frames, stride) -> (R_last, obs)``: from ``R: [n_replicas,
    n_beads, 3]``, ``n_frames * stride`` steps on ``energy_fn(R)``; ``R_last`` (same shape,
    each replica's centre of mass moved to the origin) and ``observable_fn(R)`` every
    ``stride`` steps, every leaf with leading axes ``[n_replicas, n_frames]`` (None without
    ``observable_fn``). ``n_frames`` and ``stride`` are static. Random coils:
    ``sample(key, straight_chain(n, N), 1, 2000)[0]``. ``gamma = 1`` (not the loss's 10): the
    statistics do not depend on it and low friction decorrelates faster.
    """

    def one(key: Array, R: Array, n_frames: int, stride: int) -> tuple[Array, Any]:
        init, apply = make_integrator("langevin", energy_fn, shift_fn,
                                      jnp.asarray(dt, R.dtype), jnp.asarray(kT, R.dtype),
                                      gamma=gamma)

        def frame(s, _):
            s = lax.fori_loop(0, stride, lambda _, s: apply(s), s)
            return s, None if observable_fn is None else observable_fn(s.position)

        state, obs = lax.scan(frame, init(key, R, kT=kT), None, length=n_frames)
        return state.position - jnp.mean(state.position, axis=0), obs

    @partial(jax.jit, static_argnums=(2, 3))
    def sample(key: Array, R: Array, n_frames: int, stride: int) -> tuple[Array, Any]:
        keys = jax.random.split(key, R.shape[0])
        return jax.vmap(one, in_axes=(0, 0, None, None))(keys, R, n_frames, stride)

    return sample


def control_loss(
    energy_fn: Callable,
    control_energy_fn: Callable,
    shift_fn: Callable,
    observable_fn: Callable,
    objective_fn: Callable,
    *,
    n_steps: int,
    n_window: int,
    stride: int = 5,
    integrator: str = "langevin",
    dt: float = 0.02,
    kT: float = 1.0,
    gamma: float = 10.0,
    checkpoint_every: int | None = None,
) -> Callable:
    """The control loss, differentiable with respect to the control parameters.

    Each replica starts from its configuration with Maxwell-Boltzmann velocities at ``kT``
    (drawn from its key), runs ``n_steps`` steps of ``integrator`` on ``energy_fn(R) +
    control_energy_fn(R, params)``, and records ``observable_fn`` every ``stride`` steps;
    the frames of the last ``n_window`` steps are averaged, then the replicas are averaged,
    and ``loss = objective_fn(mean_observables)``.

    Args:
      energy_fn: ``U(R) -> []``, the physical model (energy units).
      control_energy_fn: ``U_c(R, params) -> []``, the control (energy units).
      shift_fn: from ``space.free()``.
      observable_fn: ``obs(R) -> pytree`` of one frame ``R: [n_beads, 3]``.
      objective_fn: ``loss(mean_obs) -> []`` (dimensionless).
      n_steps, n_window, stride: steps per trajectory, the averaged final window and the frame
        interval; both ``n_steps`` and ``n_window`` multiples of ``stride``.
      integrator: ``"langevin"`` (BAOAB; ``gamma`` in 1/time, high by default: module
        docstring) or ``"nve"`` (deterministic after the initial velocities).
      dt, kT: time step (time units) and temperature (energy units). The default ``dt = 0.02``
        resolves the bond vibration (period ~0.44 for ``bond_stiffness = 100``).
      checkpoint_every: if given, the trajectory is a nested scan of ``jax.checkpoint``-ed
        chunks of about this many steps: the backward pass stores one state per chunk and
        recomputes the rest (same gradient to rounding, memory ~ ``n_steps / checkpoint_every +
        checkpoint_every`` states instead of ``n_steps``).

    Returns:
      ``loss_fn(params, R, key) -> (loss, aux)`` for ``R: [n_replicas, n_beads, 3]`` (one
      start per replica) and one PRNG ``key`` (split over replicas); made for
      ``jax.value_and_grad(loss_fn, has_aux=True)``. ``aux``: ``obs`` (the averaged
      observables), ``replica_obs`` (per replica, leading axis ``n_replicas``), ``final``
      (``[n_replicas, n_beads, 3]`` last positions) and ``finite`` (bool).
    """
    if n_steps % stride or n_window % stride or not 0 < n_window <= n_steps:
        raise ValueError(f"n_steps = {n_steps} and n_window = {n_window} must be multiples of "
                         f"stride = {stride}, with 0 < n_window <= n_steps")
    n_blocks, n_frames = n_steps // stride, n_window // stride
    chunk = n_blocks if checkpoint_every is None else max(1, round(checkpoint_every / stride))
    wrap = None if checkpoint_every is None else partial(jax.checkpoint, prevent_cse=False)

    def one(params: dict, R: Array, key: Array) -> tuple[Any, Array]:
        def U(R: Array, **unused: Any) -> Array:
            return energy_fn(R) + control_energy_fn(R, params)

        init, apply = make_integrator(integrator, U, shift_fn, jnp.asarray(dt, R.dtype),
                                      jnp.asarray(kT, R.dtype), gamma=gamma)

        def block(s):
            s = lax.scan(lambda s, _: (apply(s), None), s, None, length=stride)[0]
            return s, observable_fn(s.position)

        state, obs = scan_chunked(block, init(key, R, kT=kT), n_blocks, chunk, wrap)
        mean = jax.tree_util.tree_map(lambda a: jnp.mean(a[-n_frames:], axis=0), obs)
        return mean, state.position

    def loss_fn(params: dict, R: Array, key: Array) -> tuple[Array, dict]:
        keys = jax.random.split(key, R.shape[0])
        per, final = jax.vmap(one, in_axes=(None, 0, 0))(params, R, keys)
        obs = jax.tree_util.tree_map(lambda a: jnp.mean(a, axis=0), per)
        loss = objective_fn(obs)
        finite = jnp.all(jnp.isfinite(final)) & jnp.isfinite(loss)
        return loss, {"obs": obs, "replica_obs": per, "final": final, "finite": finite}

    return loss_fn


# -- optimisation -------------------------------------------------------------------------------


def fit_control(
    loss_fn: Callable,
    params: dict,
    R: Array,
    key: Array,
    *,
    n_iter: int,
    learning_rate: float = 0.1,
    callback: Callable[[int, float, dict], Any] | None = None,
) -> tuple[dict, dict]:
    """Adam (``optax.adam``) on the control parameters through ``loss_fn`` (``control_loss``).

    The start configurations ``R: [n_replicas, n_beads, 3]`` stay the same every iteration,
    the thermal noise is fresh (a new key per iteration), so the control is trained on a fixed
    set of coils and its effect is measured elsewhere on new ones. ``callback(i, loss, aux)``
    after each step (e.g. a tqdm update; the loss is the one *before* the step).

    Returns the final parameters and a history ``{"loss": [n_iter], "obs": [obs per step]}``.
    """
    opt = optax.adam(learning_rate)
    opt_state = opt.init(params)

    @jax.jit
    def step(params, opt_state, key):
        (loss, aux), grad = jax.value_and_grad(loss_fn, has_aux=True)(params, R, key)
        updates, opt_state = opt.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, aux

    history: dict = {"loss": [], "obs": []}
    for i in range(n_iter):
        key, sub = jax.random.split(key)
        new_params, new_opt_state, loss, aux = step(params, opt_state, sub)
        if not bool(aux["finite"]):
            raise FloatingPointError(f"non-finite trajectory or loss at step {i}")
        params, opt_state = new_params, new_opt_state
        history["loss"].append(float(loss))
        history["obs"].append(jax.tree_util.tree_map(np.asarray, aux["obs"]))
        if callback is not None:
            callback(i, float(loss), aux)
    return params, history
