"""Champion / challenger: score a candidate model in shadow beside the live one.

A bundle may carry a *challenger* model next to its model (the *champion*).
The scorer runs both on every event, online and in batch, from the same
features: the champion decides; the challenger's score, probability and the
action it would have taken (same rules, its own thresholds) are recorded in
the :class:`~fraudscore.decision.Decision` and
:class:`~fraudscore.decision.DecisionBatch` (``challenger_*`` fields) and
never act. After enough labelled traffic, ``fraudscore diff --bundle B``
(no ``--against``) compares the champion with its challenger against the
labels, and :func:`promote` swaps them.

* :func:`with_challenger` attaches the model of another bundle (or a bare
  :class:`~fraudscore.model.Model`). When the challenger was trained on more
  velocity features than the champion's bundle computes, the feature sets are
  merged (the champion reads its own columns by name, so its decisions do not
  change); schema and fingerprint scheme must be the same, and rules and
  lists stay the champion's.
* :func:`promote` makes the challenger the champion (with its thresholds);
  ``keep_champion=True`` keeps the old champion as the new challenger.

Examples
--------
>>> from fraudscore.synth import generate
>>> from fraudscore.train import train
>>> data = generate(n_days=3, per_day=200, seed=5)
>>> key = b"doc-challenger-secret-0001"
>>> a = train(data.columns, data.labels, key=key, config={"model": {"num_boost_round": 10, "gap": "1h"}}).bundle
>>> b = train(data.columns, data.labels, key=key,
...           config={"model": {"num_boost_round": 40, "gap": "1h", "seed": 1}}).bundle
>>> both = with_challenger(a, b)
>>> from fraudscore.scorer import Scorer
>>> batch = Scorer(both, key).score_batch(data.columns)
>>> bool((batch.action == Scorer(a, key).score_batch(data.columns).action).all())   # the champion still decides
True
>>> batch.challenger_score.shape == batch.score.shape, batch[0].challenger_action in ("approve", "review", "decline")
(True, True)
>>> promote(both).model is b.model
True
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .bundle import Bundle
from .errors import BundleError, ConfigError
from .model import Model
from .velocity import FeatureSet

__all__ = ["with_challenger", "promote", "add_command"]


def _copy(bundle: Bundle, **changes: Any) -> Bundle:
    fields = {"model": bundle.model, "schema": bundle.schema, "features": bundle.features,
              "rules_toml": bundle.rules_toml, "lists": bundle.lists, "fingerprint": bundle.fingerprint,
              "policy": bundle.policy, "training": bundle.training, "metadata": bundle.metadata,
              "challenger": bundle.challenger, "challenger_policy": bundle.challenger_policy or None}
    fields.update(changes)
    return Bundle(**fields)


def _merged_features(champion: Bundle, challenger: Bundle) -> dict[str, Any]:
    """The champion's feature set plus any spec the challenger needs, in that order."""
    if champion.features == challenger.features:
        return champion.features
    a, b = FeatureSet.from_dict(champion.features), FeatureSet.from_dict(challenger.features)
    if a.allowed_lateness_ms != b.allowed_lateness_ms:
        raise ConfigError("The challenger's feature set must accept the same lateness as the champion's "
                          f"({a.allowed_lateness!r}). Got {b.allowed_lateness!r} instead.")
    have = set(a.names)
    return FeatureSet([*a.specs, *(s for s in b.specs if s.name not in have)],
                      allowed_lateness=a.allowed_lateness).to_dict()


def with_challenger(champion: Bundle, challenger: Bundle | Model, *, policy: dict[str, int] | None = None) -> Bundle:
    """A copy of ``champion`` that also scores ``challenger`` in shadow.

    Parameters
    ----------
    champion : Bundle
        The live bundle (its model, rules, lists and policy keep acting).
    challenger : Bundle or Model
        The candidate. A bundle must share the champion's schema and
        fingerprint scheme and key id; its extra velocity specs are added.
    policy : dict, optional
        The challenger's ``{"review": ..., "decline": ...}`` thresholds;
        default: the challenger bundle's policy, else its model's thresholds.

    Returns
    -------
    Bundle
    """
    if champion.model is None:
        raise ConfigError("The 'champion' parameter of with_challenger must be a bundle with a model. Got a "
                          "rules-only bundle instead.")
    features = champion.features
    if isinstance(challenger, Bundle):
        if challenger.model is None:
            raise ConfigError("The 'challenger' parameter of with_challenger must carry a model. Got a rules-only "
                              "bundle instead.")
        if challenger.schema != champion.schema:
            raise ConfigError("The challenger bundle must use the champion's event schema. Got a different schema "
                              "instead.")
        if (challenger.fingerprint or {}) != (champion.fingerprint or {}):
            raise ConfigError("The challenger bundle must use the champion's fingerprint scheme and key id. Got "
                              f"{challenger.fingerprint} instead of {champion.fingerprint}.")
        features = _merged_features(champion, challenger)
        policy = policy or challenger.policy or None
        model = challenger.model
    elif isinstance(challenger, Model):
        model = challenger
    else:
        raise ConfigError(f"The 'challenger' parameter of with_challenger must be a Bundle or a Model. Got "
                          f"{type(challenger).__name__} instead.")
    return _copy(champion, features=features, challenger=model, challenger_policy=policy)


def promote(bundle: Bundle, *, keep_champion: bool = False) -> Bundle:
    """The bundle with its challenger as the model (and the challenger's thresholds as the policy).

    With ``keep_champion=True`` the old champion becomes the challenger, so it
    can still be watched in shadow.
    """
    if bundle.challenger is None:
        raise ConfigError("The 'bundle' parameter of promote must carry a challenger. Got none instead.")
    old = bundle.model
    return _copy(bundle, model=bundle.challenger, policy=dict(bundle.challenger_policy),
                 challenger=old if keep_champion else None,
                 challenger_policy=dict(bundle.policy) if keep_champion and old is not None else None)


# -- command line -----------------------------------------------------------------------------
def add_command(sub: Any) -> None:
    """Register ``fraudscore challenger attach|promote``."""
    from .cli import key_arg

    p = sub.add_parser("challenger", help="attach a challenger model to a bundle (shadow scoring) or promote it",
                       description="Champion / challenger bundles: 'attach' copies CHAMPION with the model of "
                                   "CHALLENGER scored in shadow (recorded in every decision, never acting); "
                                   "'promote' makes a bundle's challenger its model.")
    cmd = p.add_subparsers(dest="challenger_command", metavar="ACTION")
    a = cmd.add_parser("attach", help="CHAMPION + CHALLENGER -> a bundle that scores both")
    a.add_argument("champion", help="the live bundle (directory or zip)")
    a.add_argument("challenger", help="the candidate bundle (directory or zip)")
    a.add_argument("--out", required=True, help="the new bundle's directory")
    a.add_argument("--zip", action="store_true", help="write OUT.zip instead of a directory")
    key_arg(a)
    a.set_defaults(func=_run, challenger_run=_attach)
    r = cmd.add_parser("promote", help="make BUNDLE's challenger its model")
    r.add_argument("bundle", help="a bundle with a challenger")
    r.add_argument("--out", required=True, help="the new bundle's directory")
    r.add_argument("--keep-champion", action="store_true", help="keep the old model as the new challenger")
    r.add_argument("--zip", action="store_true", help="write OUT.zip instead of a directory")
    key_arg(r)
    r.set_defaults(func=_run, challenger_run=_promote)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _save(bundle: Bundle, args: argparse.Namespace, keys: Any) -> Path:
    out = Path(args.out)
    bundle.save(out, zip=args.zip, key=keys)
    return out.with_name(out.name + ".zip") if args.zip and out.suffix != ".zip" else out


def _run(args: argparse.Namespace) -> int:
    """Run ``attach`` or ``promote`` and print where the bundle went (the command line's only output)."""
    print(args.challenger_run(args))
    return 0


def _attach(args: argparse.Namespace) -> str:
    from .cli import keys_from

    keys = keys_from(args)
    champion, challenger = Bundle.load(args.champion, key=keys), Bundle.load(args.challenger, key=keys)
    out = _save(with_challenger(champion, challenger), args, keys)
    return f"bundle with challenger written to {out}"


def _promote(args: argparse.Namespace) -> str:
    from .cli import keys_from

    keys = keys_from(args)
    bundle = Bundle.load(args.bundle, key=keys)
    if bundle.challenger is None:
        raise BundleError(f"{args.bundle} has no challenger to promote")
    out = _save(promote(bundle, keep_champion=args.keep_champion), args, keys)
    return f"promoted bundle written to {out}"
