"""Shared test setup: JAX's 64-bit mode is on from the start, as in every workbench process
(``import workbench`` turns it on, ``workbench.jax_setup``), so physics tests can compare against
other engines in float64 and float32 tests run as float32 jobs do in a server; the workbench
home (run registry, caches) points at a temporary folder."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest

import workbench  # noqa: F401  (start-up: 64-bit mode on before any test builds an array)


@pytest.fixture(autouse=True)
def _workbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MDWB_HOME", str(tmp_path / "mdwb-home"))
    yield
