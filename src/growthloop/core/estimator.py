"""The estimator contract every growthloop model follows, with its errors and warnings.

scikit-learn's habits: ``__init__`` stores settings only; ``fit(...)`` validates its
input, learns and returns ``self``; what was learned ends in ``_``, and a model is fitted
when its ``fitted_attribute`` exists. ``check_fitted`` raises the one ``NotFittedError``
of the package. Models hold no functions built at fit time, so they pickle.

``NotFittedError`` (a ``GrowthloopError``): a fitted attribute or a prediction was asked
of a model that has not been fitted. The warnings of ``growthloop.core.errors`` are
re-exported here for the models' users.

``REGISTRY`` lists the estimator classes of the shared contract tests (``register``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from growthloop.core.errors import (
    AssumptionWarning,
    ConvergenceWarning,
    GrowthloopError,
    GrowthloopWarning,
)

__all__ = [
    "REGISTRY",
    "AssumptionWarning",
    "ContractExample",
    "ConvergenceWarning",
    "Estimator",
    "GrowthloopWarning",
    "NotFittedError",
    "register",
]


class NotFittedError(GrowthloopError, ValueError):
    """A model was used before ``fit``."""


@dataclass(frozen=True)
class ContractExample:
    """Data for the shared contract tests: valid ``fit`` arguments, arguments for
    ``predict``, and ``fit`` arguments that must raise ``InputError``."""

    fit_args: tuple[Any, ...]
    predict_args: tuple[Any, ...]
    bad_fit_args: tuple[tuple[Any, ...], ...]


E = TypeVar("E", bound="Estimator")


class Estimator:
    """Base of every growthloop model: settings, ``get_params``, ``check_fitted``."""

    #: The attribute ``fit`` sets; its presence means "fitted".
    fitted_attribute: ClassVar[str] = "params_"
    #: What ``fit`` takes, for the not-fitted message.
    fit_signature: ClassVar[str] = "fit(...)"

    def get_params(self) -> dict[str, Any]:
        """The settings given to ``__init__``, by name."""
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name, p in sig.parameters.items()
                if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    def check_fitted(self) -> None:
        """Raise ``NotFittedError`` unless ``fit`` has run."""
        if not hasattr(self, self.fitted_attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call {self.fit_signature} "
                "before using its results or predictions")

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({settings})"

    @classmethod
    def contract_example(cls, rng: Any) -> ContractExample:
        """Small valid and invalid inputs for the shared contract tests."""
        raise NotImplementedError  # pragma: no cover


REGISTRY: list[type[Estimator]] = []


def register(cls: type[E]) -> type[E]:
    """Class decorator adding an estimator to ``REGISTRY`` (once)."""
    if cls not in REGISTRY:
        REGISTRY.append(cls)
    return cls
