"""Ground-truth parameters of the simulated shop, resolved against a project configuration.

Every number that generates data lives here, keyed by market code, region or channel
name, with fallbacks by region and channel kind so that any valid ``growthloop.toml``
can be simulated. The defaults are those of a cross-border growth plan: live commerce in
South-East Asia returns about 5.8 per unit of spend, social ads in Europe 4.3 and search
ads 2.1; new-user conversion is near 23 %; about 30 % of a year's customers buy again;
the plan's KPI levels (add-to-cart, short-video completion 60 %, live interaction
25 %, NPS, return rates up to 30 %) set the funnel and after-sale parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from growthloop.core.config import Config

__all__ = [
    "EUROPE",
    "LATAM",
    "NORTH_AMERICA",
    "OTHER",
    "REGIONS",
    "SEA",
    "WorldParams",
    "build_params",
    "is_media_channel",
]

SEA = "South-East Asia"
EUROPE = "Europe"
LATAM = "Latin America"
NORTH_AMERICA = "North America"
OTHER = "Other"
REGIONS: tuple[str, ...] = (SEA, EUROPE, LATAM, NORTH_AMERICA, OTHER)


def _r(sea: object, eu: object, latam: object, na: object, other: object) -> Mapping[str, object]:
    return MappingProxyType({SEA: sea, EUROPE: eu, LATAM: latam, NORTH_AMERICA: na, OTHER: other})


# --- market level (by market code, falling back to the region) -------------------------
MARKET_WEIGHT = MappingProxyType(
    {"ID": 0.22, "TH": 0.13, "SG": 0.05, "DE": 0.13, "FR": 0.10, "BR": 0.15, "MX": 0.10,
     "US": 0.12})
DEFAULT_MARKET_WEIGHT = 0.10
UTC_OFFSET_HOURS = MappingProxyType(
    {"ID": 7.0, "TH": 7.0, "SG": 8.0, "MY": 8.0, "VN": 7.0, "PH": 8.0, "DE": 1.0, "FR": 1.0,
     "ES": 1.0, "IT": 1.0, "NL": 1.0, "GB": 0.0, "BR": -3.0, "MX": -6.0, "AR": -3.0,
     "CO": -5.0, "CL": -4.0, "US": -5.0, "CA": -5.0})
REGION_UTC_OFFSET = _r(7.0, 1.0, -4.0, -5.0, 0.0)
VIRAL_K = MappingProxyType(
    {"ID": 0.32, "TH": 0.28, "SG": 0.20, "DE": 0.15, "FR": 0.17, "BR": 0.30, "MX": 0.26,
     "US": 0.20})
REGION_VIRAL_K = _r(0.28, 0.16, 0.28, 0.20, 0.20)
CROSS_BORDER_SHARE = MappingProxyType({"SG": 0.25, "DE": 0.15, "FR": 0.12, "US": 0.08})
DEFAULT_CROSS_BORDER_SHARE = 0.10
RETURN_PROBABILITY = MappingProxyType({"DE": 0.28, "FR": 0.20})

# --- region level ----------------------------------------------------------------------
PAID_SHARE = _r(0.62, 0.55, 0.60, 0.58, 0.58)
# consent rates: (analytics, marketing, personalisation); Europe (GDPR) lowest marketing
CONSENT = _r((0.92, 0.70, 0.82), (0.72, 0.38, 0.52), (0.90, 0.66, 0.76),
             (0.86, 0.56, 0.70), (0.85, 0.55, 0.70))
DEVICE_MIX = _r(  # app, mobile_web, desktop, tablet, other
    (0.56, 0.30, 0.09, 0.04, 0.01), (0.34, 0.30, 0.30, 0.05, 0.01),
    (0.46, 0.38, 0.12, 0.03, 0.01), (0.40, 0.28, 0.25, 0.06, 0.01),
    (0.42, 0.32, 0.20, 0.05, 0.01))
MECHANISM_MIX = _r(  # share, group_buy, points
    (0.35, 0.45, 0.20), (0.55, 0.10, 0.35), (0.45, 0.35, 0.20), (0.50, 0.15, 0.35),
    (0.45, 0.30, 0.25))
BASE_CONVERSION = _r(0.055, 0.065, 0.050, 0.065, 0.060)
LATER_TOUCHES_MEAN = _r(1.6, 1.3, 1.5, 1.4, 1.4)
# funnel step rates per session: product_view|session, add_to_cart|product_view,
# checkout|add_to_cart, purchase|checkout
FUNNEL = _r((0.72, 0.34, 0.42, 0.66), (0.78, 0.30, 0.50, 0.74), (0.70, 0.36, 0.40, 0.60),
            (0.80, 0.28, 0.52, 0.76), (0.75, 0.31, 0.46, 0.70))
REGION_RETURN_PROBABILITY = _r(0.12, 0.22, 0.15, 0.18, 0.16)
CANCEL_PROBABILITY = 0.03
# delivery time in days ~ Gamma(shape, scale): means 4, 3, 7, 3.5, 5
DELIVERY_GAMMA = _r((4.0, 1.0), (6.0, 0.5), (3.5, 2.0), (5.0, 0.7), (4.0, 1.25))
# average order value (reporting currency, USD scale) of the Gamma-Gamma model
AVERAGE_ORDER_VALUE = _r(27.0, 64.0, 38.0, 72.0, 45.0)
GG_P = 5.0
GG_Q = 4.0
# BG/NBD (r, alpha [days], a, b): about 37 % buy again within 365 days of the first
# purchase, so about 30 % of a one-year horizon's customers are seen to repurchase;
# expected purchases until drop-out / mean purchase rate is about 1.2 years (lifetime)
BGNBD = _r((0.15, 14.0, 2.0, 3.5), (0.14, 15.0, 2.0, 3.2), (0.13, 14.0, 2.1, 3.2),
           (0.14, 14.0, 2.0, 3.4), (0.14, 14.0, 2.0, 3.4))
# NPS answer categories (promoter, passive, detractor) for normal and slow deliveries
NPS_NORMAL = _r((0.60, 0.26, 0.14), (0.55, 0.28, 0.17), (0.62, 0.24, 0.14),
                (0.57, 0.27, 0.16), (0.58, 0.26, 0.16))
NPS_SLOW = _r((0.30, 0.30, 0.40), (0.25, 0.30, 0.45), (0.33, 0.30, 0.37),
              (0.27, 0.30, 0.43), (0.28, 0.30, 0.42))

# channel mixes by region (weights over channel names; unknown names get a kind default)
PAID_MIX = _r(  # share of paid sign-ups per media channel
    {"live_commerce": 0.45, "social_ads": 0.22, "search_ads": 0.18, "short_video": 0.15},
    {"live_commerce": 0.10, "social_ads": 0.45, "search_ads": 0.33, "short_video": 0.12},
    {"live_commerce": 0.22, "social_ads": 0.45, "search_ads": 0.20, "short_video": 0.13},
    {"live_commerce": 0.12, "social_ads": 0.30, "search_ads": 0.38, "short_video": 0.20},
    {"live_commerce": 0.25, "social_ads": 0.30, "search_ads": 0.30, "short_video": 0.15})
TOUCH_MIX = _r(  # channels of later touches (sessions after the sign-up)
    {"live_commerce": 0.20, "social_ads": 0.14, "search_ads": 0.10, "short_video": 0.20,
     "email_crm": 0.11, "organic": 0.25},
    {"live_commerce": 0.05, "social_ads": 0.20, "search_ads": 0.20, "short_video": 0.10,
     "email_crm": 0.20, "organic": 0.25},
    {"live_commerce": 0.12, "social_ads": 0.27, "search_ads": 0.12, "short_video": 0.14,
     "email_crm": 0.10, "organic": 0.25},
    {"live_commerce": 0.06, "social_ads": 0.18, "search_ads": 0.22, "short_video": 0.18,
     "email_crm": 0.16, "organic": 0.20},
    {"live_commerce": 0.12, "social_ads": 0.20, "search_ads": 0.16, "short_video": 0.16,
     "email_crm": 0.14, "organic": 0.22})
BASELINE_MIX = MappingProxyType({"organic": 0.60, "short_video": 0.25, "email_crm": 0.15})
KIND_BASELINE_WEIGHT = MappingProxyType({"organic": 0.5, "owned": 0.2})
KIND_TOUCH_WEIGHT = MappingProxyType({"paid": 0.12, "owned": 0.12, "organic": 0.2,
                                      "referral": 0.0})

# channel level: ROI targets and attribution effects by region, media response shapes
ROI_TARGET = MappingProxyType({
    "live_commerce": _r(5.8, 2.6, 3.4, 2.8, 3.0),
    "social_ads": _r(3.2, 4.3, 3.6, 3.0, 3.2),
    "search_ads": _r(2.1, 2.1, 2.1, 2.1, 2.1),
    "short_video": _r(3.8, 2.4, 3.0, 3.2, 3.0),
})
KIND_ROI = 3.0
EFFECT = MappingProxyType({  # noisy-OR increment of first-purchase probability per touch
    "live_commerce": _r(0.14, 0.06, 0.10, 0.07, 0.09),
    "social_ads": _r(0.07, 0.09, 0.08, 0.07, 0.08),
    "search_ads": _r(0.08, 0.08, 0.08, 0.08, 0.08),
    "short_video": _r(0.06, 0.04, 0.05, 0.06, 0.05),
    "email_crm": _r(0.07, 0.07, 0.07, 0.07, 0.07),
    "referral": _r(0.12, 0.12, 0.12, 0.12, 0.12),
    "organic": _r(0.04, 0.04, 0.04, 0.04, 0.04),
})
KIND_EFFECT = MappingProxyType({"paid": 0.07, "owned": 0.05, "organic": 0.04, "referral": 0.12})
# (adstock decay alpha, Hill shape S, half-saturation as a multiple of mean adstock)
RESPONSE = MappingProxyType({
    "live_commerce": (0.35, 1.6, 1.10),
    "social_ads": (0.55, 1.3, 1.00),
    "search_ads": (0.20, 0.9, 0.80),
    "short_video": (0.65, 1.2, 1.20),
})
KIND_RESPONSE = (0.40, 1.2, 1.0)
# CPM (reporting currency per 1000 impressions) by region, and click-through rate
CPM = MappingProxyType({
    "live_commerce": _r(3.0, 8.0, 4.0, 10.0, 6.0),
    "social_ads": _r(4.0, 9.0, 5.0, 12.0, 7.0),
    "search_ads": _r(15.0, 30.0, 18.0, 38.0, 24.0),
    "short_video": _r(2.0, 6.0, 3.0, 8.0, 5.0),
})
KIND_CPM = 8.0
CTR = MappingProxyType({"live_commerce": 0.025, "social_ads": 0.012, "search_ads": 0.045,
                        "short_video": 0.008})
KIND_CTR = 0.015
PROMOTED_OWNED = ("short_video",)  # owned channels that also get a (small) media budget

# scalar process parameters
REFERRAL_DELAY_MEAN_DAYS = 7.0
TOUCH_GAP_MEAN_DAYS = 4.0
SESSION_GAP_SECONDS = 45.0
PAGE_VIEWS_EXTRA_MEAN = 1.5  # page views per session: 1 + Poisson(this)
PRODUCT_VIEWS_EXTRA_MEAN = 0.8  # product views when reached: 1 + Poisson(this)
SHORT_VIDEO_EXTRA_VIEWS_MEAN = 0.8  # videos per short-video session: 1 + Poisson(this)
LIVE_EXTRA_INTERACTIONS_MEAN = 1.0  # interactions when interacting: 1 + Poisson(this)
BROWSE_LEAD_DAYS = 3.0  # browsing starts Exp(this) before its episode's order or last touch
ANONYMOUS_SESSIONS_PER_VISITOR = 3.0
SESSION_CAP_DAYS = 1.0 / 24.0
SHORT_VIDEO_COMPLETION = 0.60
LIVE_INTERACTION = 0.25
RETURN_DELAY_MEAN_DAYS = 7.0
NPS_RESPONSE_RATE = 0.15
NPS_SLOW_FACTOR = 1.5
VALUE_WINDOW_DAYS = 365.0
ANONYMOUS_BROWSE_SHARE = 0.20  # of the browsing: visitors who never sign up
N_PRODUCTS = 20_000


@dataclass(frozen=True)
class WorldParams:
    """Per-market and per-channel ground truth as arrays (markets × channels)."""

    markets: tuple[str, ...]
    regions: tuple[str, ...]
    currencies: tuple[str, ...]
    countries: tuple[tuple[str, ...], ...]
    channels: tuple[str, ...]
    kinds: tuple[str, ...]
    media_channels: tuple[int, ...]
    baseline_channels: tuple[int, ...]
    referral_channel: int
    organic_channel: int
    email_channel: int
    market_weight: np.ndarray
    utc_offset: np.ndarray
    viral_k: np.ndarray
    cross_border: np.ndarray
    paid_share: np.ndarray
    consent: np.ndarray  # (m, 3)
    device_mix: np.ndarray  # (m, 5)
    mechanism_mix: np.ndarray  # (m, 3)
    base_conversion: np.ndarray
    later_touches_mean: np.ndarray
    funnel: np.ndarray  # (m, 4)
    return_probability: np.ndarray
    cancel_probability: np.ndarray
    delivery_gamma: np.ndarray  # (m, 2) shape, scale
    gg: np.ndarray  # (m, 3) p, q, gamma
    bgnbd: np.ndarray  # (m, 4) r, alpha, a, b
    nps_normal: np.ndarray  # (m, 3)
    nps_slow: np.ndarray  # (m, 3)
    paid_mix: np.ndarray  # (m, c), zero outside media channels
    touch_mix: np.ndarray  # (m, c)
    baseline_mix: np.ndarray  # (m, c)
    roi_target: np.ndarray  # (m, c)
    effect: np.ndarray  # (m, c)
    adstock_alpha: np.ndarray  # (c,)
    hill_shape: np.ndarray  # (c,)
    hill_k_multiple: np.ndarray  # (c,)
    cpm: np.ndarray  # (m, c)
    ctr: np.ndarray  # (c,)
    money_scale: float  # reporting-currency units per USD-scale unit

    @property
    def n_markets(self) -> int:
        return len(self.markets)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def channel_index(self, name: str) -> int:
        """Index of channel ``name``; -2 (neither a channel nor -1, none) when not configured."""
        return _index(self.channels, name, -2)


def _index(names: tuple[str, ...], name: str, missing: int) -> int:
    return names.index(name) if name in names else missing


def _region(region: str) -> str:
    return region if region in REGIONS else OTHER


def _channel_value(table: Mapping[str, Mapping[str, object]], name: str, region: str,
                   fallback: object) -> object:
    return table[name][region] if name in table else fallback


def is_media_channel(name: str, kind: str) -> bool:
    """Whether a channel has a media budget and response: paid, or owned and promoted."""
    return kind == "paid" or (kind == "owned" and name in PROMOTED_OWNED)


def build_params(config: Config, usd_per_reporting_unit: float) -> WorldParams:
    """Resolve every ground-truth parameter for the markets and channels of ``config``."""
    markets = tuple(m.code for m in config.markets)
    regions = tuple(_region(m.region) for m in config.markets)
    channels = tuple(c.name for c in config.channels)
    kinds = tuple(c.kind for c in config.channels)
    nm, nc = len(markets), len(channels)

    media = tuple(i for i, (n, k) in enumerate(zip(channels, kinds, strict=True))
                  if is_media_channel(n, k))
    baseline = tuple(i for i, k in enumerate(kinds) if k in ("organic", "owned"))
    referral = next((i for i, k in enumerate(kinds) if k == "referral"), -1)
    organic = next((i for i, k in enumerate(kinds) if k == "organic"), -1)
    email = _index(channels, "email_crm", -1)

    def per_market(code_table: Mapping[str, float], region_table: Mapping[str, object] | None,
                   default: float) -> np.ndarray:
        out = []
        for code, region in zip(markets, regions, strict=True):
            if code in code_table:
                out.append(code_table[code])
            elif region_table is not None:
                out.append(region_table[region])
            else:
                out.append(default)
        return np.asarray(out, dtype=float)

    def region_rows(table: Mapping[str, object]) -> np.ndarray:
        return np.asarray([table[r] for r in regions], dtype=float)

    cross = np.asarray([
        (CROSS_BORDER_SHARE.get(m.code, DEFAULT_CROSS_BORDER_SHARE) if m.countries else 0.0)
        for m in config.markets])

    paid_mix = np.zeros((nm, nc))
    touch_mix = np.zeros((nm, nc))
    baseline_mix = np.zeros((nm, nc))
    roi = np.zeros((nm, nc))
    effect = np.zeros((nm, nc))
    cpm = np.zeros((nm, nc))
    for i, region in enumerate(regions):
        for j, (name, kind) in enumerate(zip(channels, kinds, strict=True)):
            if j in media:
                paid_mix[i, j] = PAID_MIX[region].get(name, 0.2)
                roi[i, j] = float(_channel_value(ROI_TARGET, name, region, KIND_ROI))
                cpm[i, j] = float(_channel_value(CPM, name, region, KIND_CPM))
            if j in baseline:
                baseline_mix[i, j] = BASELINE_MIX.get(name, KIND_BASELINE_WEIGHT[kind])
            touch_mix[i, j] = TOUCH_MIX[region].get(name, KIND_TOUCH_WEIGHT[kind])
            effect[i, j] = float(_channel_value(EFFECT, name, region, KIND_EFFECT[kind]))
    for mix in (paid_mix, touch_mix, baseline_mix):
        sums = mix.sum(axis=1, keepdims=True)
        np.divide(mix, sums, out=mix, where=sums > 0)
    paid_share = region_rows(PAID_SHARE)
    if not media:
        paid_share[:] = 0.0
    if not baseline:
        if not media:
            raise ValueError("the configuration has no paid, owned or organic channel to "
                             "acquire users through")
        paid_share[:] = 1.0

    response = np.asarray([RESPONSE.get(n, KIND_RESPONSE) for n in channels])
    aov = region_rows(AVERAGE_ORDER_VALUE) / usd_per_reporting_unit
    gg = np.column_stack([np.full(nm, GG_P), np.full(nm, GG_Q), aov * (GG_Q - 1.0) / GG_P])
    ret = per_market(RETURN_PROBABILITY, REGION_RETURN_PROBABILITY, 0.16)
    return WorldParams(
        markets=markets, regions=regions,
        currencies=tuple(m.currency for m in config.markets),
        countries=tuple(tuple(m.countries) for m in config.markets),
        channels=channels, kinds=kinds, media_channels=media, baseline_channels=baseline,
        referral_channel=referral, organic_channel=organic, email_channel=email,
        market_weight=per_market(MARKET_WEIGHT, None, DEFAULT_MARKET_WEIGHT),
        utc_offset=per_market(UTC_OFFSET_HOURS, REGION_UTC_OFFSET, 0.0),
        viral_k=(per_market(VIRAL_K, REGION_VIRAL_K, 0.2) if referral >= 0
                 else np.zeros(nm)),
        cross_border=cross, paid_share=paid_share,
        consent=region_rows(CONSENT), device_mix=region_rows(DEVICE_MIX),
        mechanism_mix=region_rows(MECHANISM_MIX),
        base_conversion=region_rows(BASE_CONVERSION),
        later_touches_mean=region_rows(LATER_TOUCHES_MEAN), funnel=region_rows(FUNNEL),
        return_probability=ret, cancel_probability=np.full(nm, CANCEL_PROBABILITY),
        delivery_gamma=region_rows(DELIVERY_GAMMA), gg=gg, bgnbd=region_rows(BGNBD),
        nps_normal=region_rows(NPS_NORMAL), nps_slow=region_rows(NPS_SLOW),
        paid_mix=paid_mix, touch_mix=touch_mix, baseline_mix=baseline_mix,
        roi_target=roi, effect=effect,
        adstock_alpha=response[:, 0], hill_shape=response[:, 1],
        hill_k_multiple=response[:, 2], cpm=cpm / usd_per_reporting_unit,
        ctr=np.asarray([CTR.get(n, KIND_CTR) for n in channels]),
        money_scale=1.0 / usd_per_reporting_unit,
    )
