"""Session-wide test setup shared by tests/ and the notebooks that nbmake executes: runs and
caches go to a temporary workbench home, never the user's (kernels inherit the environment)."""

import os
import tempfile

os.environ.setdefault("MDWB_HOME", tempfile.mkdtemp(prefix="mdwb-test-home-"))
