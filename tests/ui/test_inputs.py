"""``NumberInput`` without a browser: typed text goes through the parameter's validation, refused
text stays with the reason, the object's changes reach the box."""

import numpy as np
import param
import pytest

from workbench.ui.inputs import NumberInput


class Setup(param.Parameterized):
    n = param.Integer(default=10, bounds=(2, None), label="N atoms")
    t = param.Number(default=0.72, bounds=(0.0, None), label="Temperature")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("t", "-1", "Temperature must be at least 0.0, not -1.0."),
    ("t", "1e", "Temperature must be a number, not '1e'."),
    ("t", "inf", "Temperature must be a finite number, not 'inf'."),
    ("n", "12.5", "N atoms must be a whole number, not '12.5'."),
    ("n", "1", "N atoms must be at least 2, not 1."),
    ("n", "", "N atoms must be a whole number, not ''."),
])
def test_refused_text_stays_with_the_reason(name, text, message):
    setup = Setup()
    box = NumberInput(setup, name)
    before = getattr(setup, name)
    box.widget.value = text
    assert box.error == message and box.message.visible and box.message.object == message
    assert box.widget.value == text and getattr(setup, name) == before
    box.widget.value = "1e3"  # good text clears it; 1e3 is a whole number too
    assert box.error == "" and not box.message.visible and getattr(setup, name) == 1000


def test_the_objects_changes_reach_the_box_and_problems_show_under_it():
    setup = Setup()
    box = NumberInput(setup, "t")
    setup.t = 1.5
    assert box.widget.value == "1.5"
    box.set_problem("the temperature must be at most 50")
    assert box.message.visible and box.error == ""
    box.widget.value = "x"  # a refused value's message wins over the problem
    assert box.message.object.startswith("Temperature must be a number")
    setup.t = 2.0  # the object set from elsewhere: the box follows, the refusal is gone
    assert box.widget.value == "2" and box.error == ""
    assert box.message.object == "the temperature must be at most 50"


def test_a_dashboards_own_number_has_bounds_and_touches_no_other_class():
    from workbench.ui.inputs import number_input, refused

    steps = number_input("Steps", 2000, (10, None), integer=True)
    steps.widget.value = "5"
    assert steps.error == "Steps must be at least 10, not 5." and refused(steps)
    assert steps.value == 2000
    steps.value = 300
    assert steps.widget.value == "300" and not refused(steps)
    assert "value" not in param.Parameterized.param  # the parameter lives on its own class


def _methane(n_frames: int = 12):
    """Methane (C-H 1.09 Å) with random displacements and forces: a molecule to map."""
    from workbench.data import Dataset

    rng = np.random.default_rng(0)
    h = 1.09 / np.sqrt(3) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    base = np.concatenate([np.zeros((1, 3)), h])
    return Dataset(positions=base + rng.normal(0, 0.02, (n_frames, 5, 3)),
                   species=np.array([6, 1, 1, 1, 1]), forces=rng.normal(0, 1, (n_frames, 5, 3)))


def test_dashboards_refuse_a_bad_number_and_disable_what_would_use_it():
    from workbench.ui.coarse_grain import CoarseGrainDashboard
    from workbench.ui.train import TrainDashboard
    from workbench.ui.tune import TuneDashboard

    tune = TuneDashboard()
    try:
        tune.t_density.widget.value = "abc"
        tune._refresh_buttons()
        assert tune.t_button.disabled and "must be a number" in tune.t_density.error
        tune.t_density.widget.value = "0.8"
        tune.iterations.widget.value = "0"
        tune._refresh_buttons()
        assert not tune.t_button.disabled and tune.fit_btn.disabled
    finally:
        tune.close()
    train = TrainDashboard()
    try:
        train.md_timestep.widget.value = "-1"
        train.data.n_frames.widget.value = "1e"
        train._refresh_buttons()
        train.data.refresh()
        assert train.data.data_btn.disabled and train.md_btn.disabled
        assert train.md_timestep.error == "Time step (fs) must be at least 0.01, not -1.0."
    finally:
        train.close()
    coarse = CoarseGrainDashboard()
    try:
        coarse.session.use(_methane(), "methane")  # a molecule with forces: mapping allowed
        coarse._refresh_buttons()
        assert not coarse.map_btn.disabled
        coarse.n_beads.widget.value = "0"
        coarse._refresh_buttons()
        assert coarse.map_btn.disabled and coarse.n_beads.error == \
            "Beads must be at least 1, not 0."
    finally:
        coarse.close()
