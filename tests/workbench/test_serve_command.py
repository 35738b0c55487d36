"""``workbench serve``: loopback unless an address is given, a warning that says what another
address exposes, the server setup script always passed."""

from workbench.cli import APPS, exposure_warning, serve_command


def _value(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_loopback_by_default_and_the_setup_script_always():
    cmd = serve_command(["--port", "5007"])
    assert _value(cmd, "--address") == "127.0.0.1"
    assert _value(cmd, "--setup") == str(APPS / "_setup.py")
    assert str(APPS / "simulate.py") in cmd and str(APPS / "_setup.py") not in cmd[:cmd.index(
        "--setup")]
    assert exposure_warning(["--port", "5007"]) is None


def test_an_address_given_is_kept_and_warned_about():
    for extra in (["--address", "0.0.0.0"], ["--address=0.0.0.0"]):
        cmd = serve_command(extra)
        assert cmd.count("--address") + sum(a.startswith("--address=") for a in cmd) == 1
        warning = exposure_warning(extra + ["--port", "8000"])
        assert "0.0.0.0:8000" in warning and "--allow-websocket-origin HOST:8000" in warning
        assert "--basic-auth" in warning
    assert "--basic-auth" not in exposure_warning(["--address", "10.0.0.5", "--basic-auth", "pw"])
    assert exposure_warning(["--address", "localhost"]) is None
