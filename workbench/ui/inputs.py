"""A number box that answers bad input next to itself.

Panel's ``Widget.from_param`` gives the browser the parameter's (soft) bounds, so a typed value
outside them is clamped or reverted in the page without a word, and a value the parameter refuses
on the server (letters: ``None``) leaves a ``ValueError`` traceback in the server log (issue 17).
Bokeh's numeric box also keeps text it cannot parse ("1e") on screen while the value behind it
stays the old one. :class:`NumberInput` is therefore a text box whose text the server parses and
sends through the parameter's own validation: refused text stays in the box with the reason under
it (the parameter's message, as a user of the object gets it in Python) and
:attr:`NumberInput.error` set, so the dashboard can disable Start; the object keeps its last good
value. The object's changes reach the box. A problem the object finds across parameters
(``SimulationSetup.problems``) can be shown under the box as well (:meth:`NumberInput.set_problem`).
"""

from __future__ import annotations

import math
import re
from functools import partial

import panel as pn
import param

__all__ = ["NumberInput", "number_input", "refused"]

_PARAM_PREFIX = re.compile(r"^\w+ parameter '[\w.]+'\s*")
_STYLE = {"color": "#b00020", "font-size": "0.85em"}


class NumberInput(pn.viewable.Viewer):
    """A number box bound to the numeric parameter ``name`` of ``obj``.

    Args:
        obj: the ``param.Parameterized`` holding the value.
        name: a ``param.Number`` or ``param.Integer`` of ``obj``.
        **kwargs: passed to the Panel ``TextInput``, e.g. ``sizing_mode``.
    """

    error = param.String(default="", doc="Why the typed value was refused ('' when it was not).")
    problem = param.String(default="", doc="A problem of the object's shown under the box.")

    def __init__(self, obj: param.Parameterized, name: str, **kwargs) -> None:
        super().__init__()
        self.obj, self.attr = obj, name
        parameter = obj.param[name]
        self.integer = isinstance(parameter, param.Integer)
        self.widget = pn.widgets.TextInput(label=parameter.label, value=self._text(getattr(
            obj, name)), description=parameter.doc, **kwargs)
        self.message = pn.pane.Markdown("", visible=False, margin=(0, 10), styles=_STYLE)
        self.layout = pn.Column(self.widget, self.message, margin=0,
                                sizing_mode=kwargs.get("sizing_mode"))
        self.widget.param.watch(self._typed, "value")
        obj.param.watch(self._changed, name)

    @property
    def label(self) -> str:
        return self.widget.label

    @label.setter
    def label(self, text: str) -> None:
        self.widget.label = text

    @property
    def visible(self) -> bool:
        return self.layout.visible

    @visible.setter
    def visible(self, value: bool) -> None:
        self.layout.visible = value

    @property
    def disabled(self) -> bool:
        return self.widget.disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self.widget.disabled = value

    def set_problem(self, text: str) -> None:
        """Show ``text`` under the box ('' to clear); a refused typed value's message wins."""
        self.problem = text
        self._show()

    @property
    def value(self) -> int | float:
        """The object's value (the last good one typed)."""
        return getattr(self.obj, self.attr)

    @value.setter
    def value(self, number: int | float) -> None:
        setattr(self.obj, self.attr, number)  # ValueError from the parameter if refused

    def _text(self, value) -> str:
        return "" if value is None else str(value) if self.integer else f"{value:.10g}"

    def _parse(self, text: str) -> int | float:
        """The number in ``text`` (``ValueError`` with the reason otherwise)."""
        kind = "a whole number" if self.integer else "a number"
        try:
            number = float(text.strip().replace("_", ""))
        except ValueError:
            raise ValueError(f"must be {kind}, not {text.strip()!r}.") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, not {text.strip()!r}.")
        if self.integer:
            if not number.is_integer():
                raise ValueError(f"must be {kind}, not {text.strip()!r}.")
            return int(number)
        return number

    def _typed(self, event: param.parameterized.Event) -> None:
        # Panel handles the box's Enter event without the document lock, and what the value
        # changes (a dashboard's plots) may be raw Bokeh models: apply it on the next tick.
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            pn.state.execute(partial(self._apply, event.new), schedule=True)
        else:
            self._apply(event.new)

    def _apply(self, text: str) -> None:
        try:
            setattr(self.obj, self.attr, self._parse(text))
        except ValueError as exc:
            self.error = f"{self.widget.label} {_PARAM_PREFIX.sub('', str(exc))}"
        else:
            self.error = ""
        self._show()

    def _changed(self, event: param.parameterized.Event) -> None:
        try:
            same = self._parse(self.widget.value) == event.new
        except ValueError:
            same = False
        if not same:
            self.widget.value = self._text(event.new)
        if self.error:
            self.error = ""
            self._show()

    def _show(self) -> None:
        text = self.error or self.problem
        self.message.param.update(object=text, visible=bool(text))

    def __panel__(self) -> pn.viewable.Viewable:
        return self.layout


def number_input(label: str, value: int | float, bounds: tuple, integer: bool = False,
                 doc: str = "", **kwargs) -> NumberInput:
    """A :class:`NumberInput` for a value of a dashboard's own (not a workflow object's): it
    holds the value in a parameter of its own with these ``bounds`` (``(low, None)``: no
    upper bound) and ``label``."""
    kind = param.Integer if integer else param.Number
    holder = type("Number", (param.Parameterized,), {  # a class of its own for the parameter
        "value": kind(default=value, bounds=bounds, label=label, doc=doc)})()
    return NumberInput(holder, "value", **kwargs)


def refused(*inputs: NumberInput) -> bool:
    """Whether any of ``inputs`` holds text its parameter refused (a dashboard then disables
    the button that would use them)."""
    return any(box.error for box in inputs)
