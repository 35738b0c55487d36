"""Panel components that render workbench objects; each works in a notebook cell and in
``panel serve``."""
