"""Training the pairwise link model on the drift simulator (reproducible).

:func:`training_pairs` replays a simulated stream (:mod:`fraudscore.fingerprint.simulate`)
with the linker's own blocks, hard rules and pre-filter, but with the state kept
by *true* device (teacher forcing): every observation that the linker would send
to the model (no exact match, not a common fingerprint) yields one row of
:data:`~fraudscore.fingerprint.linkfeatures.PAIR_FEATURES` per scored candidate,
labelled 1 when the candidate is its true device. :func:`train_link_model` fits
LightGBM on the pairs of several scenarios (other seeds than the benchmark's)
with fixed parameters, one thread and ``deterministic=true``: the same
arguments give the same model text. The package's default model is made by::

    python -m fraudscore.fingerprint.linktrain --out fraudscore/fingerprint/default_link_model.txt

which also writes the ``.sha256`` file next to it.

Examples
--------
>>> m = train_link_model(n_devices=60, days=30, scenarios=("mixed",), num_boost_round=5)
>>> m.feature_names[:2], m.predict([0.0] * len(PAIR_FEATURES)) < 1.0
(['browser_delta', 'os_delta'], True)
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from ..keys import Keys
from .linker import COMMON_POPULARITY, DeviceLinker, _ahead
from .linkkeys import _ID_TAGS
from .linkfeatures import PAIR_FEATURES, compatible, make_record, n_differences, pair_features
from .linkmodel import LinkModel
from .linkstate import LinkPlan, MemoryLinkState
from .sections import Fingerprinter
from .simulate import DriftStream, simulate

__all__ = ["training_pairs", "train_link_model", "TRAIN_SCENARIOS", "TRAIN_PARAMS", "main"]

#: Scenarios the default model is trained on (``legacy`` is left out: it is a benchmark baseline).
TRAIN_SCENARIOS: tuple[str, ...] = ("web", "mixed", "identical", "farm", "heavy", "fonts", "drivers")
#: LightGBM parameters of the link model.
TRAIN_PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.1, "num_leaves": 15, "min_data_in_leaf": 40, "max_bin": 63,
    "use_missing": False, "lambda_l2": 1.0, "num_threads": 1, "deterministic": True, "force_row_wise": True,
    "verbose": -1,
}
_KEYS = Keys(b"fraudscore-link-model-training-key")
_MASK48 = (1 << 48) - 1


def _ip_hash(ip: Any) -> int:
    return 0 if ip is None else (xxhash.xxh3_64_intdigest(str(ip).encode()) & _MASK48) or 1


def _unscored_linker() -> DeviceLinker:
    """A default :class:`DeviceLinker` for its keys and popularity only, without loading a model (the model
    may not exist yet: this module trains it)."""
    lk = object.__new__(DeviceLinker)
    lk.mobile_prior, lk.min_family_devices, lk._key_memo = 3.0, 30, {}
    return lk


def training_pairs(stream: DriftStream, fingerprinter: Fingerprinter | None = None,
                   max_scored: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and labels of every candidate the linker would score in ``stream``.

    Examples
    --------
    >>> X, y = training_pairs(simulate("mixed", n_devices=40, days=20, seed=3))
    >>> X.shape[1] == len(PAIR_FEATURES), set(np.unique(y)) <= {0, 1}
    (True, True)
    """
    fpr = fingerprinter or Fingerprinter(_KEYS)
    state = MemoryLinkState()
    block_keys, stat_keys = DeviceLinker.block_keys, DeviceLinker.stat_keys
    popularity = _unscored_linker().popularity
    rows: list[list[float]] = []
    labels: list[int] = []
    for dev, truth, t, ip in zip(stream.devices, stream.truth.tolist(), stream.ts.tolist(), stream.ip_prefix.tolist()):
        fp = fpr.fingerprint(dev)
        if fp is None:
            continue
        did = f"t{truth}"
        iph = _ip_hash(ip)
        fk, gk = stat_keys(fp)
        blocks = block_keys(fp)
        view = state.read((fp.id,), DeviceLinker.walk_keys(fp, blocks), fp.family, fk, gk, t)
        own = state._devices.get(did)
        if own is not None and t - own["t"] > state.ttl_ms:
            own = None
        exact = view.exact is not None and not _ahead(view.exact, fp)
        common = not exact and popularity(fp, view, view.exact_ndev + (view.exact is not None),
                                          bool(view.cands)) >= COMMON_POPULARITY
        if not exact and not common:  # the linker would score candidates
            cands = [r for r in view.cands if compatible(fp, r)]
            n_c = len(cands)
            ids_now = [(p, fp.components[p]) for p, _ in _ID_TAGS if fp.components[p]]
            same_id = [r for r in cands if any(r["c"][p] == v for p, v in ids_now)] if ids_now else []
            cands = sorted(same_id or cands, key=lambda r: (n_differences(fp, r), -r["t"], r["id"]))[:max_scored]
            for r in cands:
                rows.append(pair_features(fp, r, t, iph, n_c))
                labels.append(int(r["id"] == did))
        rec = make_record(fp, did, t, own, iph)
        state.write(LinkPlan(rec, (fp.id,), blocks, 1, own is None, fp.family, fk if own is None else (),
                             gk if own is None else ()), t)
    X = np.array(rows, dtype=np.float64).reshape(-1, len(PAIR_FEATURES))
    return X, np.array(labels, dtype=np.int64)


def train_link_model(*, n_devices: int = 1200, days: float = 90.0, seed: int = 101,
                     scenarios: Sequence[str] = TRAIN_SCENARIOS, num_boost_round: int = 80) -> LinkModel:
    """Train the link model on simulated pairs (see the module docstring); reproducible.

    Parameters
    ----------
    n_devices, days : int, float
        Size of each simulated scenario.
    seed : int
        Seed of the first scenario (the next ones use ``seed + 1``, ...); the model's seed.
    scenarios : sequence of str
        Scenarios of :func:`~fraudscore.fingerprint.simulate.simulate` to train on.
    num_boost_round : int
        Number of trees.
    """
    import lightgbm as lgb

    fpr = Fingerprinter(_KEYS)
    parts = [training_pairs(simulate(sc, n_devices=n_devices, days=days, seed=seed + i), fpr)
             for i, sc in enumerate(scenarios)]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    params = {**TRAIN_PARAMS, "seed": seed}
    ds = lgb.Dataset(X, y, feature_name=list(PAIR_FEATURES), free_raw_data=True)
    booster = lgb.train(params, ds, num_boost_round=num_boost_round)
    return LinkModel(booster.model_to_string())


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: ``python -m fraudscore.fingerprint.linktrain --out PATH``."""
    ap = argparse.ArgumentParser(description="Train the pairwise device-link model on the drift simulator.")
    ap.add_argument("--out", required=True, help="model text file to write (a .sha256 file is written beside it)")
    ap.add_argument("--n-devices", type=int, default=1200)
    ap.add_argument("--days", type=float, default=90.0)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--rounds", type=int, default=80)
    _run(ap.parse_args(argv))


def _run(args: argparse.Namespace) -> None:
    """The command: train, write the model and its hash, say where (a command function: it prints)."""
    model = train_link_model(n_devices=args.n_devices, days=args.days, seed=args.seed, num_boost_round=args.rounds)
    out = Path(args.out)
    out.write_text(model.text, encoding="utf-8")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    out.with_suffix(".sha256").write_text(f"{digest}  {out.name}\n", encoding="utf-8")
    print(f"wrote {out} ({len(model.text):,} bytes, sha256 {digest})")


if __name__ == "__main__":
    main()
