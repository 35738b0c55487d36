"""Pure-JAX simulation kernel of MD Workbench, built on jax_md.

Arrays and pytrees in, arrays and pytrees out; jit/vmap/grad-safe; no files, no UI, no global
state. Factories return closures in the jax_md style (``neighbor_fn, energy_fn``,
``init_fn, run_fn``).

Precision follows the arrays passed in (float32 or float64). float64 needs JAX's 64-bit mode,
which the kernel never switches itself: the caller enables it once at start-up
(``import workbench`` does; a script using ``kernels`` alone calls
``jax.config.update("jax_enable_x64", True)`` first). ``kernels.precision.float_dtype`` checks a
requested dtype and raises instead of letting JAX compute float64 requests in float32.
"""
