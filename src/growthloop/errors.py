"""The exception hierarchy of growthloop.

``GrowthloopError`` is the base; the CLI prints its message on one line and exits 1.

- ``ConfigError``: the project file is missing or invalid.
- ``InputError``: a file or argument given by the user cannot be used as it is.
- ``WarehouseError``: the warehouse is missing, locked or from an unknown version.
"""

from __future__ import annotations

__all__ = ["ConfigError", "GrowthloopError", "InputError", "WarehouseError"]


class GrowthloopError(Exception):
    """Base class of every error growthloop raises on purpose."""


class ConfigError(GrowthloopError, ValueError):
    """The project file is missing or invalid."""


class InputError(GrowthloopError, ValueError):
    """A file or argument cannot be used as it is."""


class WarehouseError(GrowthloopError, RuntimeError):
    """The warehouse cannot be opened or is not in the expected state."""
