"""Media response transforms in JAX: geometric adstock and Hill saturation.

The forms of Jin, Wang, Sun, Chan and Koehler (2017), "Bayesian methods for media mix
modeling with carryover and shape effects" (Google), eqs. (1) and (3), as the simulator
draws them (``growthloop.simulate.media``; a test checks the two agree):

- ``geometric_adstock``: ``a_t = x_t + alpha a_{t-1}`` from ``a_{-1} = 0``, times
  ``1 - alpha`` so that a constant spend has itself as its steady-state adstock;
- ``hill``: ``a^S / (a^S + K^S)``, 0.5 at the half-saturation ``K``;
- ``half_life``: periods until a unit of spend keeps half its effect,
  ``log 0.5 / log alpha``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # JAX is imported where it runs: the CLI starts without it
    import jax

__all__ = ["geometric_adstock", "half_life", "hill"]


def geometric_adstock(x: jax.Array, alpha: jax.Array) -> jax.Array:
    """Normalised geometric adstock along the last axis; ``alpha`` broadcasts against the
    leading axes (Jin et al. 2017, eq. 1 with weights ``alpha^l``, no lag cap)."""
    import jax
    import jax.numpy as jnp

    lead = jnp.broadcast_shapes(x.shape[:-1], jnp.shape(alpha))
    xs = jnp.moveaxis(jnp.broadcast_to(x, (*lead, x.shape[-1])), -1, 0)

    def step(carry: jax.Array, xt: jax.Array) -> tuple[jax.Array, jax.Array]:
        carry = xt + alpha * carry
        return carry, carry

    _, out = jax.lax.scan(step, jnp.zeros(lead, dtype=xs.dtype), xs)
    return jnp.moveaxis(out, 0, -1) * (1.0 - alpha)[..., None]


def hill(a: jax.Array, half_saturation: jax.Array, shape: jax.Array) -> jax.Array:
    """Hill saturation ``a^S / (a^S + K^S)`` for ``a >= 0`` (Jin et al. 2017, eq. 3),
    written as ``1 / (1 + (K / a)^S)`` through logs so that ``a = 0`` gives 0."""
    import jax
    import jax.numpy as jnp

    log_ratio = jnp.log(half_saturation) - jnp.log(jnp.maximum(a, 1e-300))
    return jax.nn.sigmoid(-shape * log_ratio)


def half_life(alpha: float) -> float:
    """Periods until the carry-over of a unit of spend falls to half: ``log 0.5 / log
    alpha`` (0 for ``alpha = 0``)."""
    return math.log(0.5) / math.log(alpha) if alpha > 0 else 0.0
