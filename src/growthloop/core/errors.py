"""The exception hierarchy of growthloop.

``GrowthloopError`` is the base; the CLI prints its message on one line and exits 1.

- ``ConfigError``: the project file is missing or invalid.
- ``InputError``: a file or argument given by the user cannot be used as it is.
- ``WarehouseError``: the warehouse is missing, locked or from an unknown version.

Warnings: ``GrowthloopWarning`` is the base of every warning growthloop emits (the CLI
prints them on stderr as ``warning: ...``); ``ConvergenceWarning`` (an optimisation stopped
before converging) and ``AssumptionWarning`` (the data contradict a model's assumption)
refine it.
"""

from __future__ import annotations

__all__ = ["AssumptionWarning", "ConfigError", "ConvergenceWarning", "GrowthloopError",
           "GrowthloopWarning", "InputError", "WarehouseError"]


class GrowthloopError(Exception):
    """Base class of every error growthloop raises on purpose."""


class ConfigError(GrowthloopError, ValueError):
    """The project file is missing or invalid."""


class InputError(GrowthloopError, ValueError):
    """A file or argument cannot be used as it is."""


class WarehouseError(GrowthloopError, RuntimeError):
    """The warehouse cannot be opened or is not in the expected state."""


class GrowthloopWarning(UserWarning):
    """Base class of the warnings growthloop emits."""


class ConvergenceWarning(GrowthloopWarning):
    """An optimisation stopped before it converged."""


class AssumptionWarning(GrowthloopWarning):
    """The data contradict an assumption of the model."""
