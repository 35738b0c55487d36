"""Panel components that render workbench objects; each works in a notebook cell and in
``panel serve``. Importing the package in a Jupyter kernel makes Panel's resources inline, so the
components display offline whatever ``pn.extension()`` was called with (``serving``)."""

from workbench.ui.serving import notebook_offline

notebook_offline()
