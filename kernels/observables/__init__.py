"""Observables computed from trajectories (pure JAX): structure, dynamics, thermodynamics."""
