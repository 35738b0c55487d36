"""Shared test setup: float64 is enabled so physics tests can compare against other engines;
the workbench home (run registry, caches) points at a temporary folder."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import pytest

jax.config.update("jax_enable_x64", True)


@pytest.fixture(autouse=True)
def _workbench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MDWB_HOME", str(tmp_path / "mdwb-home"))
    yield
