"""Pure-JAX simulation kernel of MD Workbench, built on jax_md.

Arrays and pytrees in, arrays and pytrees out; jit/vmap/grad-safe; no files, no UI, no global
state. Factories return closures in the jax_md style (``neighbor_fn, energy_fn``,
``init_fn, run_fn``).
"""
