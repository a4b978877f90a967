"""growthloop: a growth engine for cross-border e-commerce platforms."""

from growthloop.core.config import Config, load_config
from growthloop.core.errors import ConfigError, GrowthloopError, InputError, WarehouseError

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "GrowthloopError",
    "InputError",
    "WarehouseError",
    "__version__",
    "load_config",
]
