"""Look-alikes of public fraud tables that fraudscore did not make: card transactions and e-commerce.

The loan generator (:func:`fraudscore.synth.generate`) is shaped by this project's
own assumptions. To check that training defaults hold on data the project did
not design, :func:`card_transactions` and :func:`ecommerce` generate tables with
the *shape* of two kinds of public fraud data sets, reported when they were mapped
through the public API (issue #17):

* **card transactions** (:func:`card_transactions`): about 95,000 rows over four
  months, date-only timestamps (every row at midnight UTC), 0.2 % fraud
  concentrated in about 10 compromise *episodes* (a batch of cards leaked at once
  and spent within days), categorical columns (``state``, ``tx_type``), a merchant
  and a card id. Few episodes make any time split thin in frauds: in the reported
  table the default early-stopping validation held 6 of 206 frauds.
* **e-commerce** (:func:`ecommerce`): about 51,000 first purchases, 9 % fraud,
  with the columns of the widely used public e-commerce fraud set (user, signup
  and purchase times, value, device id, source, browser, sex, age, IP). Its
  published marginals are reproduced: sources SEO / Ads / Direct about 40 / 40 / 20 %,
  browsers Chrome 41 %, IE 24 %, Safari 16 %, FireFox 16 %, Opera 2 %; purchase
  value mean about 37 (sd 18); age mean 33 (sd 9); and about half the frauds are
  bots that buy one second after signing up, reusing a device across accounts
  (the set's best-known signal), while the other half look like customers.

Each returns a :class:`Table`: columns in arrival order, a labels table, the
:class:`~fraudscore.schema.Schema` and velocity :class:`~fraudscore.velocity.FeatureSet`
a user would write for it, and per-row ground truth (the episode or fraud kind).
Everything is seeded and made up.

Examples
--------
>>> t = card_transactions(n_days=30, n_cards=800, seed=0)
>>> t.n > 4000, int(t.labels["is_fraud"].sum()) > 0
(True, True)
>>> bool((t.columns["ts"] % 86_400_000 == 0).all())      # date-only
True
>>> e = ecommerce(n=3000, seed=0)
>>> round(float(e.labels["is_fraud"].mean()), 2)
0.09
>>> sorted(e.schema.names)[:3]
['age', 'browser', 'device_id']
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from ..schema import Field, Schema
from ..timeutil import to_epoch_ms
from ..velocity import FeatureSet, FeatureSpec

__all__ = ["Table", "card_transactions", "ecommerce", "card_schema", "card_feature_set", "ecommerce_schema",
           "ecommerce_feature_set", "time_split_rows"]

DAY_MS = 86_400_000
_STATES = np.array(["CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ", "MA",
                    "TN", "IN", "MO", "MD", "WI", "CO", "MN", "SC", "AL", "LA", "KY", "OR", "OK", "CT", "UT"],
                   dtype=object)
_TX_TYPES = np.array(["pos", "online", "recurring", "atm", "transfer"], dtype=object)
_TX_TYPE_P = np.array([0.55, 0.25, 0.10, 0.06, 0.04])
_TX_TYPE_AMOUNT = np.array([1.0, 1.1, 0.8, 1.6, 2.5])
#: fraud per episode in the reported card table's shape (206 frauds in 10 episodes)
CARD_EPISODES = (30, 14, 26, 38, 6, 22, 9, 31, 12, 18)
#: where each episode starts, as a share of the period; the fifth (6 frauds) falls in
#: the default early-stopping validation window of a 70 / 30 train / test split
CARD_EPISODE_AT = (0.05, 0.12, 0.2, 0.3, 0.55, 0.72, 0.77, 0.83, 0.9, 0.95)
_SOURCES = np.array(["SEO", "Ads", "Direct"], dtype=object)
_SOURCE_P = np.array([0.40, 0.40, 0.20])
_BROWSERS = np.array(["Chrome", "IE", "Safari", "FireFox", "Opera"], dtype=object)
_BROWSER_P = np.array([0.407, 0.243, 0.163, 0.163, 0.024])


@dataclass
class Table:
    """A generated table: event columns (arrival order), labels, schema, feature set, ground truth.

    Attributes
    ----------
    columns : dict of str to numpy.ndarray
        Event fields; ``ts`` int64 epoch ms, sorted.
    labels : dict of str to numpy.ndarray
        The id field's values as ``application_id``, ``is_fraud`` (int8) and
        ``label_ts`` (int64 ms: when the outcome became known).
    schema : Schema
    feature_set : FeatureSet
    truth : dict of str to numpy.ndarray
        ``kind`` per row (``"genuine"`` or the fraud kind) and ``episode`` (-1 genuine).
    """

    columns: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    schema: Schema
    feature_set: FeatureSet
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(len(self.columns["ts"]))

    def __len__(self) -> int:
        return self.n

    def take(self, rows: np.ndarray) -> Table:
        """The rows at ``rows`` (positions, or a boolean mask), order kept."""
        pick = (lambda d: {k: v[rows] for k, v in d.items()})
        return Table(pick(self.columns), pick(self.labels), self.schema, self.feature_set, pick(self.truth))


def time_split_rows(ts: np.ndarray, train_share: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): the first ``train_share`` of rows by time, ties kept together.

    Examples
    --------
    >>> tr, te = time_split_rows(np.array([1, 2, 2, 3, 4]), 0.5)
    >>> tr.tolist(), te.tolist()
    ([True, True, True, False, False], [False, False, False, True, True])
    """
    ts = np.asarray(ts, dtype=np.int64)
    cut = np.sort(ts)[int(np.floor(train_share * (len(ts) - 1)))]
    return ts <= cut, ts > cut


def _sorted(cols: dict[str, np.ndarray], extra: dict[str, np.ndarray], rng: np.random.Generator
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    order = np.lexsort((rng.random(len(cols["ts"])), cols["ts"]))  # time order, random within a tie
    return {k: v[order] for k, v in cols.items()}, {k: v[order] for k, v in extra.items()}


# -- card transactions ---------------------------------------------------------------------------------
def card_transactions(n_days: int = 120, n_cards: int = 4000, *, seed: int = 0, start: str = "2024-01-01",
                      episodes: tuple[int, ...] = CARD_EPISODES,
                      episode_at: tuple[float, ...] = CARD_EPISODE_AT, categorical: bool = True) -> Table:
    """Date-only card transactions with fraud in a few compromise episodes.

    Parameters
    ----------
    n_days, n_cards : int
        Period and number of cards (defaults: about 95,000 rows).
    seed : int
        Randomness (the same arguments give the same table).
    start : str
        First day.
    episodes : tuple of int
        Frauds per episode (default :data:`CARD_EPISODES`: 206 in 10).
    episode_at : tuple of float
        Start of each episode as a share of the period.
    categorical : bool
        Declare ``state`` and ``tx_type`` as ``category`` fields (else ``str``).

    Notes
    -----
    Genuine: each card has a home state (Zipf over 30 states), a typical amount
    (log-normal), a daily rate (gamma: most cards a few times a week) and type
    preferences; 4 % of its rows are away from home. An episode leaks a batch of
    cards (one or two frauds each) that are then spent within 1-4 days, mostly
    online, by ATM or transfer, at 2-8x the card's typical amount, often in the
    episode's own state and at one of a few merchants. Chargebacks (labels) arrive
    5-40 days later; genuine outcomes 60 days later.
    """
    rng = np.random.default_rng(seed)
    t0 = to_epoch_ms(start) // DAY_MS * DAY_MS
    zipf = 1.0 / np.arange(1, len(_STATES) + 1) ** 1.1
    home = rng.choice(len(_STATES), size=n_cards, p=zipf / zipf.sum())
    typical = np.exp(rng.normal(3.6, 0.8, n_cards))
    rate = rng.gamma(1.2, 0.165, n_cards)
    type_pref = rng.dirichlet(_TX_TYPE_P * 12, size=n_cards)
    n_merch = max(50, n_cards // 2)
    mz = 1.0 / np.arange(1, n_merch + 1) ** 0.9
    mz /= mz.sum()
    # genuine rows
    per_card = rng.poisson(rate * n_days)
    card = np.repeat(np.arange(n_cards), per_card)
    m = len(card)
    day = rng.integers(0, n_days, m)
    tx_type = np.array([rng.choice(len(_TX_TYPES), p=type_pref[c]) for c in card], dtype=np.int64) if m else \
        np.zeros(0, np.int64)
    away = rng.random(m) < 0.04
    state = np.where(away, rng.integers(0, len(_STATES), m), home[card])
    amount = typical[card] * _TX_TYPE_AMOUNT[tx_type] * np.exp(rng.normal(0, 0.55, m))
    merchant = rng.choice(n_merch, size=m, p=mz)
    cols: dict[str, list[np.ndarray]] = {"card": [card], "day": [day], "type": [tx_type], "state": [state],
                                          "amount": [amount], "merchant": [merchant]}
    fraud = [np.zeros(m, np.int8)]
    epi = [np.full(m, -1, np.int64)]
    # fraud episodes
    for e, (size, at) in enumerate(zip(episodes, episode_at)):
        d0 = int(at * n_days)
        n_victims = max(1, int(round(size / 1.45)))
        victims = rng.choice(n_cards, size=n_victims, replace=False)
        per = np.ones(n_victims, np.int64)
        extra = size - n_victims
        if extra > 0:
            per += np.bincount(rng.choice(n_victims, size=extra), minlength=n_victims)
        vc = np.repeat(victims, per)
        k = len(vc)
        e_state = rng.integers(0, len(_STATES))
        e_merch = rng.choice(n_merch, size=3)
        ftype = rng.choice(len(_TX_TYPES), size=k, p=[0.15, 0.45, 0.0, 0.2, 0.2])
        cols["card"].append(vc)
        cols["day"].append(np.minimum(d0 + rng.integers(0, 4, k), n_days - 1))
        cols["type"].append(ftype)
        cols["state"].append(np.where(rng.random(k) < 0.7, e_state, home[vc]))
        cols["amount"].append(typical[vc] * _TX_TYPE_AMOUNT[ftype] * np.exp(rng.normal(1.3, 0.45, k)))
        cols["merchant"].append(np.where(rng.random(k) < 0.6, rng.choice(e_merch, size=k),
                                         rng.choice(n_merch, size=k, p=mz)))
        fraud.append(np.ones(k, np.int8))
        epi.append(np.full(k, e, np.int64))
    c = {k: np.concatenate(v) for k, v in cols.items()}
    isf = np.concatenate(fraud)
    ep = np.concatenate(epi)
    n = len(isf)
    ts = t0 + c["day"].astype(np.int64) * DAY_MS
    delay = np.where(isf == 1, rng.integers(5, 41, n), 60) * DAY_MS
    columns = {
        "tx_id": np.array([f"T{i:07d}" for i in range(n)], dtype=object),
        "ts": ts,
        "card_id": np.array([f"C{x:06d}" for x in c["card"]], dtype=object),
        "merchant_id": np.array([f"M{x:05d}" for x in c["merchant"]], dtype=object),
        "state": _STATES[c["state"]],
        "tx_type": _TX_TYPES[c["type"]],
        "amount": np.round(c["amount"], 2),
    }
    extra = {"is_fraud": isf, "label_ts": ts + delay, "episode": ep,
             "kind": np.where(isf == 1, "episode", "genuine").astype(object)}
    columns, extra = _sorted(columns, extra, rng)
    ids = np.array([f"T{i:07d}" for i in range(n)], dtype=object)  # ids in arrival order
    columns["tx_id"] = ids
    labels = {"application_id": ids, "is_fraud": extra["is_fraud"], "label_ts": extra["label_ts"]}
    return Table(columns, labels, card_schema(categorical), card_feature_set(),
                 {"kind": extra["kind"], "episode": extra["episode"]})


def card_schema(categorical: bool = True) -> Schema:
    """The schema a user writes for :func:`card_transactions` (``state`` and ``tx_type`` as categories).

    With ``categorical=False`` they are plain text fields (before categorical
    fields existed, they could reach the model only as velocity keys).
    """
    cat = "category" if categorical else "str"
    return Schema((
        Field("tx_id", "str", required=True),
        Field("ts", "timestamp", required=True, description="transaction date (date only)"),
        Field("card_id", "str", identifier="generic", entity=True),
        Field("merchant_id", "str", identifier="generic", entity=True),
        Field("state", cat, entity=True),  # type: ignore[arg-type]
        Field("tx_type", cat, entity=True),  # type: ignore[arg-type]
        Field("amount", "float", minimum=0),
    ), id_field="tx_id", time_field="ts", allow_extra=False)


def card_feature_set() -> FeatureSet:
    """Velocity a user writes for date-only card data: earlier days only (calendar windows), amount ratios."""
    S = FeatureSpec
    c, m, a = "card_id", "merchant_id", "amount"
    return FeatureSet([
        S("count", key=c, window="1 calendar day"),
        S("count", key=c, window="7 calendar days", exclude_same_day=True),
        S("count", key=c, window="30 calendar days", exclude_same_day=True),
        S("ratio_to_mean", key=c, field=a, window="60 calendar days", exclude_same_day=True),
        S("mean", key=c, field=a, window="60 calendar days", exclude_same_day=True),
        S("max", key=c, field=a, window="1 calendar day"),
        S("sum", key=c, field=a, window="1 calendar day"),
        S("distinct", key=c, of="state", window="30 calendar days"),
        S("distinct", key=c, of=m, window="1 calendar day"),
        S("count", key=(c, "state"), window="60 calendar days", exclude_same_day=True),
        S("count", key=(c, "tx_type"), window="60 calendar days", exclude_same_day=True),
        S("count", key=m, window="1 calendar day"),
        S("count", key=m, window="7 calendar days", exclude_same_day=True),
        S("ratio_to_mean", key=m, field=a, window="30 calendar days", exclude_same_day=True),
        S("fraud_count", key=m, window="30d", delay=0),
        S("fraud_rate", key=m, window="60d", delay=0),
    ], allowed_lateness=0)


# -- e-commerce ----------------------------------------------------------------------------------------
def ecommerce(n: int = 51_000, *, seed: int = 0, fraud_rate: float = 0.09, n_days: int = 120,
              start: str = "2015-03-01", bot_share: float = 0.5, categorical: bool = True) -> Table:
    """First purchases of an online shop, ``fraud_rate`` fraud, half of it bots.

    Parameters
    ----------
    n : int
        Rows (one purchase per user).
    seed : int
    fraud_rate : float
        Share of fraudulent purchases.
    n_days : int
        Purchase period.
    start : str
        First purchase day.
    bot_share : float
        Share of frauds made by bots: a purchase one second after signup, from a
        device and IP shared with other bot accounts within hours.
    categorical : bool
        Declare ``source``, ``browser`` and ``sex`` as ``category`` fields (else ``str``).

    Notes
    -----
    Genuine buyers: signup 0-120 days before the purchase (seconds since signup as
    a numeric field, ``signup_age_s``), own device (3 % share a household device),
    source / browser / sex / age drawn from the published marginals. Other
    frauds: ordinary-looking accounts, a little more often ``Direct`` and Chrome,
    slightly higher values, shorter signup ages. Labels arrive 30 days later.
    """
    rng = np.random.default_rng(seed)
    t0 = to_epoch_ms(start)
    n_f = int(round(n * fraud_rate))
    n_bot = int(round(n_f * bot_share))
    n_other = n_f - n_bot
    n_g = n - n_f
    ts_g = t0 + rng.integers(0, n_days * DAY_MS, n_g)
    age_g = rng.exponential(45 * DAY_MS, n_g).clip(60_000, 120 * DAY_MS) / 1000.0
    dev_g = rng.integers(0, 10**9, n_g)
    shared = rng.random(n_g) < 0.03
    dev_g[shared] = dev_g[rng.integers(0, n_g, int(shared.sum()))]
    src_g = rng.choice(3, n_g, p=_SOURCE_P)
    br_g = rng.choice(5, n_g, p=_BROWSER_P)
    val_g = np.clip(rng.gamma(4.0, 9.2, n_g), 9, 154)
    # bots: bursts of accounts on one device / IP, 1 s after signup
    n_bursts = max(1, n_bot // 8)
    burst = rng.integers(0, n_bursts, n_bot)
    b_t = t0 + rng.integers(0, n_days * DAY_MS, n_bursts)
    ts_b = b_t[burst] + rng.integers(0, 6 * 3_600_000, n_bot)
    dev_b = 10**9 + burst.astype(np.int64)
    src_b = rng.choice(3, n_bot, p=[0.35, 0.35, 0.30])
    br_b = rng.choice(5, n_bot, p=[0.45, 0.22, 0.15, 0.15, 0.03])
    val_b = np.clip(rng.gamma(4.0, 9.6, n_bot), 9, 154)
    # other fraud: looks like a customer
    ts_o = t0 + rng.integers(0, n_days * DAY_MS, n_other)
    age_o = rng.exponential(20 * DAY_MS, n_other).clip(60_000, 120 * DAY_MS) / 1000.0
    dev_o = rng.integers(0, 10**9, n_other)
    src_o = rng.choice(3, n_other, p=[0.36, 0.38, 0.26])
    br_o = rng.choice(5, n_other, p=[0.44, 0.23, 0.15, 0.15, 0.03])
    val_o = np.clip(rng.gamma(4.0, 10.0, n_other), 9, 154)
    ts = np.concatenate([ts_g, ts_b, ts_o]).astype(np.int64)
    kind = np.array(["genuine"] * n_g + ["bot"] * n_bot + ["other"] * n_other, dtype=object)
    isf = (kind != "genuine").astype(np.int8)
    dev = np.concatenate([dev_g, dev_b, dev_o])
    ip_of_dev = {d: i for i, d in enumerate(np.unique(dev))}
    ip = np.array([ip_of_dev[d] for d in dev.tolist()], dtype=np.int64)
    renew = rng.random(n) < 0.25  # some buyers share a carrier-grade NAT with another device
    ip[renew] = rng.integers(0, len(ip_of_dev), int(renew.sum()))
    columns = {
        "user_id": np.array([f"U{i:07d}" for i in rng.permutation(n)], dtype=object),
        "ts": ts,
        "signup_age_s": np.concatenate([age_g, np.ones(n_bot), age_o]).round(0),
        "purchase_value": np.concatenate([val_g, val_b, val_o]).round(0),
        "device_id": np.array([f"D{d:011d}" for d in dev.tolist()], dtype=object),
        "source": _SOURCES[np.concatenate([src_g, src_b, src_o])],
        "browser": _BROWSERS[np.concatenate([br_g, br_b, br_o])],
        "sex": np.where(rng.random(n) < 0.584, "M", "F").astype(object),
        "age": np.clip(rng.normal(33.1, 8.6, n), 18, 76).round(0),
        "ip_address": np.array([f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in ip.tolist()],
                               dtype=object),
    }
    extra = {"is_fraud": isf, "label_ts": ts + 30 * DAY_MS, "kind": kind,
             "episode": np.where(kind == "bot", np.concatenate([np.full(n_g, -1), burst, np.full(n_other, -1)]),
                                 -1)}
    columns, extra = _sorted(columns, extra, rng)
    labels = {"application_id": columns["user_id"], "is_fraud": extra["is_fraud"], "label_ts": extra["label_ts"]}
    return Table(columns, labels, ecommerce_schema(categorical), ecommerce_feature_set(),
                 {"kind": extra["kind"], "episode": extra["episode"]})


def ecommerce_schema(categorical: bool = True) -> Schema:
    """The schema a user writes for :func:`ecommerce` (source, browser, sex as categories)."""
    cat = "category" if categorical else "str"
    return Schema((
        Field("user_id", "str", required=True),
        Field("ts", "timestamp", required=True, description="purchase time"),
        Field("signup_age_s", "float", minimum=0, description="seconds from signup to purchase"),
        Field("purchase_value", "float", minimum=0),
        Field("device_id", "str", identifier="generic", entity=True),
        Field("source", cat),  # type: ignore[arg-type]
        Field("browser", cat),  # type: ignore[arg-type]
        Field("sex", cat),  # type: ignore[arg-type]
        Field("age", "int", minimum=0, maximum=120),
        Field("ip_address", "str", identifier="ip", entity=True),
    ), id_field="user_id", time_field="ts", allow_extra=False)


def ecommerce_feature_set() -> FeatureSet:
    """Velocity for the e-commerce table: accounts per device and IP, bursts."""
    S = FeatureSpec
    return FeatureSet([
        S("count", key="device_id", window="1h"),
        S("count", key="device_id", window="7d"),
        S("count", key="device_id", window="all"),
        S("count", key="ip_address", window="1h"),
        S("count", key="ip_address", window="7d"),
        S("time_since_last", key="device_id"),
        S("mean", key="device_id", field="purchase_value", window="30d"),
    ], allowed_lateness="1h")
