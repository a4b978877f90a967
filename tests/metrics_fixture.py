"""A tiny shop whose every KPI can be computed by hand (see test_metrics_catalog.py).

Jan 2025: users u1 (US, social_ads), u2 (US, organic), u3 (DE, search_ads); Feb: u4 (DE).
"""

from __future__ import annotations

from pathlib import Path

from conftest import write_csv
from growthloop.ingest import ingest_file

USERS = [  # user, signup, market, channel
    ("u1", "2025-01-02T09:00:00", "US", "social_ads"),
    ("u2", "2025-01-05T09:00:00", "US", "organic"),
    ("u3", "2025-01-10T09:00:00", "DE", "search_ads"),
    ("u4", "2025-02-03T09:00:00", "DE", "social_ads"),
]
SESSIONS = [  # session, user, anonymous id, time, market, channel, event types (+ value)
    ("s1", "u1", "a1", "2025-01-02T10:00:00", "US", "social_ads",
     ["session_start", "product_view", "add_to_cart", "checkout", ("purchase", 50, "USD")]),
    ("s2", "u1", "a1", "2025-01-15T10:00:00", "US", "organic", ["session_start", "page_view"]),
    ("s3", "u2", "a2", "2025-01-05T10:00:00", "US", "organic",
     ["session_start", "product_view", "add_to_cart"]),
    ("s4", "u3", "a3", "2025-01-10T10:00:00", "DE", "search_ads",
     ["session_start", "content_view", "content_complete", "share"]),
    ("s5", None, "a9", "2025-01-20T10:00:00", "DE", "live_commerce",
     ["session_start", "live_interaction", "content_view"]),
    ("s6", "u1", "a1", "2025-02-01T12:00:00", "US", "email_crm",
     ["session_start", ("purchase", 30, "USD")]),
    ("s7", "u4", "a4", "2025-02-03T10:00:00", "DE", "social_ads",
     ["session_start", "product_view", "add_to_cart", "checkout", ("purchase", 40, "EUR")]),
    ("s8", "u2", "a2", "2025-02-10T10:00:00", "US", "organic", ["session_start"]),
]
ORDERS = [  # order, user, time, market, currency, amount, status, delivered
    ("o1", "u1", "2025-01-02T10:05:00", "US", "USD", 50, "delivered", "2025-01-06T10:05:00"),
    ("o2", "u3", "2025-01-12T10:00:00", "DE", "EUR", 20, "returned", "2025-01-14T10:00:00"),
    ("o3", "u1", "2025-02-01T12:05:00", "US", "USD", 30, "delivered", "2025-02-06T12:05:00"),
    ("o4", "u4", "2025-02-03T10:05:00", "DE", "EUR", 40, "shipped", None),
    ("o5", "u2", "2025-01-20T10:00:00", "US", "USD", 99, "cancelled", None),
]
SPEND = [  # date, market, channel, campaign, spend, currency
    ("2025-01-01", "US", "social_ads", "c1", 100, "USD"),
    ("2025-01-01", "DE", "search_ads", "c2", 50, "EUR"),
    ("2025-02-01", "US", "social_ads", "c1", 60, "USD"),
    ("2025-02-01", "DE", "social_ads", "c3", 30, "USD"),
]
FX = [("2025-01-01", "EUR", 1.0), ("2025-01-12", "EUR", 1.1), ("2025-02-03", "EUR", 1.2)]
SURVEYS = [  # response, user, time, market, score
    ("r1", "u1", "2025-01-07T10:00:00", "US", 10),
    ("r2", "u3", "2025-01-16T10:00:00", "DE", 5),
    ("r3", "u2", "2025-01-20T10:00:00", "US", 8),
    ("r4", "u1", "2025-02-05T10:00:00", "US", 9),
]


def load_fixture(tmp: Path, con, cfg, pseudo) -> None:
    """Write the tables above as CSV and ingest them."""
    files = {
        "users": [dict(user_id=u, signup_ts=ts, market=m, country=m, acquisition_channel=ch,
                       acquisition_campaign=None, referrer_id=None, consent_analytics="true",
                       consent_marketing="true", consent_personalisation="true")
                  for u, ts, m, ch in USERS],
        "events": [
            dict(event_id=f"{s}-{i}", user_id=u, anonymous_id=a, session_id=s,
                 event_ts=f"{ts[:-2]}{i:02d}", event_type=e if isinstance(e, str) else e[0],
                 market=m, channel=ch, campaign=None, device="app", product_id=None,
                 value=None if isinstance(e, str) else e[1],
                 currency=None if isinstance(e, str) else e[2], properties=None)
            for s, u, a, ts, m, ch, evs in SESSIONS for i, e in enumerate(evs)],
        "orders": [dict(order_id=o, user_id=u, order_ts=ts, market=m, currency=c, amount=a,
                        status=st, delivered_ts=d) for o, u, ts, m, c, a, st, d in ORDERS],
        "ad_spend": [dict(date=d, market=m, channel=ch, campaign=c, spend=s, currency=cur,
                          impressions=None, clicks=None) for d, m, ch, c, s, cur in SPEND],
        "fx_rates": [dict(date=d, currency=c, rate=r) for d, c, r in FX],
        "surveys": [dict(response_id=r, user_id=u, response_ts=ts, market=m, survey="nps",
                         score=sc) for r, u, ts, m, sc in SURVEYS],
    }
    for table, rows in files.items():
        res = ingest_file(con, cfg, table, write_csv(tmp / f"{table}.csv", rows), pseudo)
        assert res.rows_quarantined == 0, (table, res.reasons)


# a KPI declared in the project file, exactly as a user would
SHARE_RATE_KPI = """
[[kpis]]
name = "share_rate"
description = "Sessions with a share / sessions."
kind = "ratio"
unit = "share"
direction = "up"
numerator = { source = "sessions", agg = "count", filter = { has_share = true } }
denominator = { source = "sessions", agg = "count" }
"""
