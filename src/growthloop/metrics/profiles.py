"""Person profiles: every device and market of one person, from identity-resolved events.

A profile is a person as the identity graph sees them (``sources.identified_events``:
anonymous devices linked to a user by identify or alias calls count as that user), with
when they were first and last seen, their markets and devices, how many anonymous ids
they used, and their consent (from ``users``; unknown for visitors never signed up).
Traits sent with identify calls are not kept: they are personal data no analysis needs.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from growthloop.metrics.sources import identified_events

__all__ = ["profiles"]


def profiles(backend: BaseBackend) -> ir.Table:
    """One row per person: ``person_id`` (the user, else the anonymous id), ``known``
    (a user), ``first_seen``, ``last_seen``, ``events``, ``markets`` and ``devices``
    (sorted lists), ``anonymous_ids`` and the three consent flags."""
    e = identified_events(backend)
    e = e.mutate(person_id=ibis.coalesce(e.user_id, e.anonymous_id),
                 device=e.device.fill_null("unknown"))
    p = e.group_by("person_id").aggregate(
        known=e.user_id.notnull().any(), first_seen=e.event_ts.min(),
        last_seen=e.event_ts.max(), events=e.count(),
        markets=e.market.collect(distinct=True).sort(),
        devices=e.device.collect(distinct=True).sort(),
        anonymous_ids=e.anonymous_id.nunique())
    u = backend.table("users").select(
        u_id="user_id", consent_analytics="consent_analytics",
        consent_marketing="consent_marketing",
        consent_personalisation="consent_personalisation")
    j = p.left_join(u, p.person_id == u.u_id)
    return j.drop("u_id").order_by("person_id")
