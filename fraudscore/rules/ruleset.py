"""Rules, rule sets (TOML, content hash) and their compiled form.

Examples
--------
>>> rs = RuleSet([Rule("BIG", "amount > 10000", action="review", score=100,
...                    reason="amount {amount} is large")])
>>> crs = rs.compile(["amount"])
>>> crs.evaluate({"amount": 25000.0})
[RuleHit(code='BIG', action='review', score=100, reason='amount 25000 is large', shadow=False, priority=0)]
>>> RuleSet.from_toml(rs.to_toml()).version == rs.version
True
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern
from typing import Any

import numpy as np

from ..errors import ConfigError, RuleSyntaxError
from .combine import ACTIONS, HitMatrix, RuleHit, combine
from .lists import ListTransform, NamedList, coerce_lists
from .native import make_hits_kernel, program
from .parser import Expr, check_names, did_you_mean, expr_lists, parse_expression
from .scalar import compile_condition, split_list
from .template import Template, check_template, parse_template, render
from .toml_io import RULE_KEYS, read_toml, write_toml
from .vector import ColumnEnv, compile_vector

__all__ = ["Rule", "RuleSet", "CompiledRuleSet", "LANGUAGE_VERSION"]

#: Bumped when the meaning of an expression changes; part of every rule-set version.
LANGUAGE_VERSION = 1
_F64 = np.dtype(np.float64)
#: ``_core.rules.make_hits`` with :class:`RuleHit`'s slot descriptors (``None``: build hits with the constructor):
#: the hits' frozen dataclasses made without their ``__init__`` (round 16).
_MAKE_HITS = make_hits_kernel(RuleHit)
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
MAX_POINTS = 1000


def _bad(param: str, want: str, got: Any) -> ConfigError:
    return ConfigError(f"The {param!r} parameter of Rule must be {want}. Got {got!r} instead.")


@dataclass(frozen=True)
class Rule:
    """One analyst rule.

    Parameters
    ----------
    code : str
        Stable reason code, upper case (``DEV_MANY_IDS_24H``).
    when : str
        The condition, in the rule language (see ``docs/rules.md``).
    action : {"decline", "review", "approve", "tag"}
        ``approve`` is an allow-list hit; ``tag`` only records the hit (and its points).
    description : str
        What the rule is for.
    score : int
        Points (-1000..1000) added to the model's 0-1000 score on a hit.
    reason : str
        Message template with ``{name}`` placeholders; defaults to the description.
    enabled : bool
        Disabled rules are kept in the file but not compiled.
    shadow : bool
        Evaluated and reported as shadow hits, never acting.
    priority : int
        Hits are listed by descending priority (then file order).

    Examples
    --------
    >>> Rule("X", "amount >", action="review")
    Traceback (most recent call last):
    ...
    fraudscore.errors.RuleSyntaxError: rule 'X': invalid syntax: invalid syntax (line 1, column 8)
        amount >
                ^
    """

    code: str
    when: str
    action: str = "review"
    description: str = ""
    score: int = 0
    reason: str = ""
    enabled: bool = True
    shadow: bool = False
    priority: int = 0
    expr: Expr = field(init=False, repr=False, compare=False)
    template: Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE_RE.match(self.code):
            raise _bad("code", "upper-case letters, digits and '_' (e.g. 'DEV_MANY_IDS_24H')", self.code)
        if self.action not in ACTIONS:
            raise _bad("action", "one of " + ", ".join(map(repr, ACTIONS)), self.action)
        if isinstance(self.score, bool) or not isinstance(self.score, int) or abs(self.score) > MAX_POINTS:
            raise _bad("score", f"an integer between -{MAX_POINTS} and {MAX_POINTS}", self.score)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise _bad("priority", "an integer", self.priority)
        for name in ("enabled", "shadow"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, "true or false", getattr(self, name))
        for name in ("description", "reason"):
            if not isinstance(getattr(self, name), str):
                raise _bad(name, "a string", getattr(self, name))
        object.__setattr__(self, "expr", parse_expression(self.when, self.code))
        object.__setattr__(self, "template", parse_template(self.reason or self.description, self.code))

    def to_dict(self) -> dict[str, Any]:
        """The rule's fields as a plain dict (the TOML table)."""
        return {k: getattr(self, k) for k in RULE_KEYS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rule:
        """Build a rule from a TOML table / dict; unknown keys raise ``ConfigError``."""
        for key in d:
            if key not in RULE_KEYS:
                raise ConfigError(f"Unknown rule key {key!r}{did_you_mean(key, RULE_KEYS)}.")
        missing = [k for k in ("code", "when") if k not in d]
        if missing:
            raise ConfigError(f"Rule {d.get('code', '?')!s} is missing required key(s) {missing}.")
        return cls(**dict(d))


class RuleSet:
    """An ordered set of rules plus named lists; versioned by content hash.

    Parameters
    ----------
    rules : iterable of Rule
        Rule codes must be unique.
    lists : mapping or iterable, optional
        Named lists (see :func:`fraudscore.rules.lists.coerce_lists`).

    Examples
    --------
    >>> rs = RuleSet([Rule("BLOCKED_IP", "ip in @blocked_ips", action="decline")],
    ...              lists={"blocked_ips": {"values": ["192.0.2.1"], "kind": "ip"}})
    >>> rs.version.startswith("rs-"), len(rs.version)
    (True, 19)
    """

    def __init__(self, rules: Iterable[Rule], lists: Mapping[str, Any] | Iterable[NamedList] | None = None
                 ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.lists: dict[str, NamedList] = coerce_lists(lists)
        seen: set[str] = set()
        for r in self.rules:
            if not isinstance(r, Rule):
                raise ConfigError(f"The 'rules' parameter of RuleSet must hold Rule objects. "
                                  f"Got {type(r).__name__} instead.")
            if r.code in seen:
                raise ConfigError(f"Duplicate rule code {r.code!r} in rule set.")
            seen.add(r.code)
            for name in sorted(expr_lists(r.expr)):
                if name not in self.lists:
                    where = next(e for e in _walk_lists(r.expr) if e.name == name)
                    raise RuleSyntaxError(f"unknown list '@{name}'{did_you_mean(name, self.lists)}",
                                          code=r.code, source=r.when, line=where.pos[0], col=where.pos[1])
        self._version: str | None = None

    @classmethod
    def from_toml(cls, path_or_text: str | Path, lists_dir: str | Path | None = None,
                  lists: Mapping[str, Any] | None = None, *, bundled: bool = False) -> RuleSet:
        """Load a rule set from a TOML file or string (see :mod:`.toml_io` for the layout).

        Parameters
        ----------
        path_or_text : str or Path
            A ``.toml`` file, or TOML text.
        lists_dir : str or Path, optional
            Folder for ``[lists.x] file = "..."`` entries.
        lists : mapping, optional
            List contents supplied by the caller (e.g. from a bundle): ``{file name or
            name: text with one entry per line, or a sequence of entries}``; used before
            the file system.
        bundled : bool, default False
            A bundle's rule set: ``path_or_text`` is TOML text, never a path, and
            ``[lists.x] file = ...`` is refused (nothing outside the bundle is read).

        Examples
        --------
        >>> rs = RuleSet.from_toml('[lists.deny]\\nkind = "ip"\\nfile = "deny_ip.txt"\\n'
        ...                        '[[rules]]\\ncode = "DENY"\\nwhen = "ip in @deny"\\naction = "decline"\\n',
        ...                        lists={"deny_ip.txt": "192.0.2.1\\n# comment\\n192.0.2.2\\n"})
        >>> rs.lists["deny"].values
        ('192.0.2.1', '192.0.2.2')
        """
        raw_rules, lists_ = read_toml(path_or_text, lists_dir, lists, bundled=bundled)
        return cls([Rule.from_dict(r) for r in raw_rules], lists_)

    @classmethod
    def default(cls) -> RuleSet:
        """The shipped default loan rule set (``fraudscore/rules/default_rules.toml``).

        Examples
        --------
        >>> len(RuleSet.default().rules) > 10
        True
        """
        return cls.from_toml(Path(__file__).with_name("default_rules.toml"))

    def for_names(self, known_names: Iterable[str]) -> tuple[RuleSet, list[str]]:
        """The rules whose names (and reason placeholders) all exist among ``known_names``, and the codes left out.

        Shipped rule sets are written for the default loan schema: with another
        schema, :func:`fraudscore.train` keeps only the rules that apply (and logs
        the others) instead of refusing the whole set. Named lists no kept rule
        uses are dropped too.

        Examples
        --------
        >>> rs, skipped = RuleSet.default().for_names({"amount", "count__ip_prefix__10m"})
        >>> [r.code for r in rs.rules], len(skipped) > 10
        (['IP24_BURST_10M'], True)
        """
        known = frozenset(known_names)
        keep: list[Rule] = []
        skipped: list[str] = []
        for r in self.rules:
            try:
                check_names(r.expr, r.when, known, self.lists, r.code)
                check_template(r.template, known, frozenset(), r.code)
            except RuleSyntaxError:
                skipped.append(r.code)
                continue
            keep.append(r)
        used = {name for r in keep for name in expr_lists(r.expr)}
        return RuleSet(keep, {n: lst for n, lst in self.lists.items() if n in used}), skipped

    def to_toml(self) -> str:
        """Serialise to TOML; ``RuleSet.from_toml(rs.to_toml()).version == rs.version``."""
        return write_toml([r.to_dict() for r in self.rules], self.lists)

    def canonical(self) -> dict[str, Any]:
        """The canonical, JSON-able content that :attr:`version` hashes."""
        return {"language": LANGUAGE_VERSION, "rules": [r.to_dict() for r in self.rules],
                "lists": {name: self.lists[name].canonical() for name in sorted(self.lists)}}

    @property
    def version(self) -> str:
        """Content hash: ``"rs-"`` + 16 hex digits of SHA-256 over :meth:`canonical`."""
        if self._version is None:
            blob = json.dumps(self.canonical(), sort_keys=True, ensure_ascii=True, separators=(",", ":"))
            self._version = "rs-" + hashlib.sha256(blob.encode("ascii")).hexdigest()[:16]
        return self._version

    def compile(self, known_names: Iterable[str], list_transform: ListTransform | None = None,
                identifier_names: Iterable[str] = ()) -> CompiledRuleSet:
        """Check every enabled rule against ``known_names`` and compile both evaluators.

        Parameters
        ----------
        known_names : iterable of str
            Field and feature names expressions may use.
        list_transform : callable, optional
            ``(kind, value) -> value`` applied to entries of lists that declare a kind.
        identifier_names : iterable of str, optional
            Identifier fields; reason templates may not quote them.

        Raises
        ------
        RuleSyntaxError
            Unknown name (with a did-you-mean), unknown list, or a template quoting an identifier.
        """
        return CompiledRuleSet(self, known_names, list_transform, identifier_names)

    def backtest(self, history: Mapping[str, Any] | HitMatrix, labels: Any,
                 known_names: Iterable[str] | None = None, list_transform: ListTransform | None = None) -> Any:
        """Per-rule hit rate, precision, recall, marginal effect and overlap (see :mod:`.backtest`).

        ``history`` is a column mapping (compiled against its own keys unless
        ``known_names`` is given) or a :class:`HitMatrix` from this rule set.
        """
        from .backtest import backtest
        return backtest(self, history, labels, known_names=known_names, list_transform=list_transform)

    def diff(self, other: RuleSet, history: Mapping[str, Any], known_names: Iterable[str] | None = None,
             list_transform: ListTransform | None = None) -> Any:
        """Decisions that change between this rule set and ``other`` over the same history."""
        from .backtest import diff_decisions
        return diff_decisions(self, other, history, known_names=known_names, list_transform=list_transform)

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules, {len(self.lists)} lists, version={self.version!r})"


def _walk_lists(expr: Expr) -> Iterable[Any]:
    from .parser import ListRef, walk
    return (e for e in walk(expr) if isinstance(e, ListRef))


def _merged(record: Mapping[str, Any], x: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """The values rules read: the record, then the features (they override equal names)."""
    values = dict(record)
    values.update(zip(names, x.tolist()))
    return values


class CompiledRuleSet:
    """A rule set compiled against known names: scalar and vectorised evaluators.

    Built by :meth:`RuleSet.compile`. Disabled rules are left out; the others are
    ordered by descending priority, then file order, and hits come out in that order.

    Examples
    --------
    >>> rs = RuleSet([Rule("A", "x > 1", action="decline"), Rule("B", "x > 0", action="review", shadow=True)])
    >>> crs = rs.compile(["x"])
    >>> [h.code for h in crs.evaluate({"x": 2.0})], crs.combine(crs.evaluate({"x": 2.0}))
    (['A', 'B'], ('decline', 0))
    >>> m = crs.evaluate_columns({"x": np.array([0.5, 2.0, np.nan])}, 3)
    >>> m.matrix.tolist(), m.actions().tolist()
    ([[False, True], [True, True], [False, False]], [None, 'decline', None])
    """

    combine = staticmethod(combine)

    def __init__(self, ruleset: RuleSet, known_names: Iterable[str], list_transform: ListTransform | None,
                 identifier_names: Iterable[str]) -> None:
        if isinstance(known_names, str):
            raise ConfigError("The 'known_names' parameter of RuleSet.compile must be an iterable of names, "
                              "not a single string.")
        known = frozenset(known_names)
        ids = frozenset(identifier_names)
        self.version = ruleset.version
        lists = {name: split_list(lst.transformed(list_transform).values) for name, lst in ruleset.lists.items()}
        order = sorted(((r, i) for i, r in enumerate(ruleset.rules) if r.enabled), key=lambda t: (-t[0].priority, t[1]))
        self.rules: tuple[Rule, ...] = tuple(r for r, _ in order)
        self.codes = tuple(r.code for r in self.rules)
        scalar = []
        vector = []
        renderers: list[Callable[[Mapping[str, Any]], str]] = []
        for r in self.rules:
            check_names(r.expr, r.when, known, lists, r.code)
            check_template(r.template, known, ids, r.code)
            test = compile_condition(r.expr, lists)
            tpl = r.template
            renderers.append(lambda values, tpl=tpl: render(tpl, values))
            scalar.append((test, r, renderers[-1]))
            vector.append(compile_vector(r.expr, lists))
        self._scalar = tuple(scalar)
        # the reason of a rule whose template has no placeholder (== render(tpl, any values)), else None:
        # evaluate_parts builds the merged dict only for hits whose reason reads it
        self._static_reasons = tuple("".join(lit for lit, _ in r.template) if all(n is None for _, n in r.template)
                                     else None for r in self.rules)
        self._tests = tuple(t for t, _, _ in scalar)
        self._on_hit = {t: (r, rend) for t, r, rend in scalar}  # closures are unique objects
        self._vector = tuple(vector)
        self._renderers = tuple(renderers)
        # the conditions in one compiled call per event (fraudscore/_core/rules.c); None: the closures above
        self._program = program([r.expr for r in self.rules], lists)
        # each rule's RuleHit fields but the reason, for the compiled hit builder (_MAKE_HITS)
        self._hit_rows = tuple((r.code, r.action, r.score, None, r.shadow, r.priority) for r in self.rules)
        self._index: dict[tuple[str, ...], dict[str, int]] = {}  # feature names -> column index, for evaluate_parts
        self._last: tuple[Any, Any] = (None, None)  # (names, index) of the last call: no hash of the names tuple

    def evaluate(self, values: Mapping[str, Any]) -> list[RuleHit]:
        """Evaluate every rule on one record (str / float / bool / None values; NaN = missing)."""
        prog = self._program
        if prog is not None and values.__class__ is dict:
            idx = prog.fired(values)
            if not idx:
                return idx  # type: ignore[no-any-return]
            scalar = self._scalar
            return [RuleHit(r.code, r.action, r.score, rend(values), r.shadow, r.priority)
                    for _t, r, rend in map(scalar.__getitem__, idx)]
        fired = [test for test in self._tests if test(values)]  # the hot loop: one closure call per rule
        if not fired:
            return fired  # type: ignore[return-value]
        on_hit = self._on_hit
        return [RuleHit(r.code, r.action, r.score, rend(values), r.shadow, r.priority)
                for r, rend in map(on_hit.__getitem__, fired)]  # reasons rendered for hits only

    def evaluate_parts(self, record: Mapping[str, Any], x: np.ndarray, names: tuple[str, ...]) -> list[RuleHit]:
        """:meth:`evaluate` of ``dict(record)`` updated with ``zip(names, x.tolist())``, without building it
        unless a hit's reason or a condition the compiled evaluator hands back needs it.

        Examples
        --------
        >>> crs = RuleSet([Rule("A", "x > 1 and s == 'web'", action="decline")]).compile(["x", "s"])
        >>> [h.code for h in crs.evaluate_parts({"s": "web", "x": None}, np.array([2.0]), ("x",))]
        ['A']
        """
        prog = self._program
        if prog is None or record.__class__ is not dict or not isinstance(x, np.ndarray) or (
                x.dtype is not _F64 and x.dtype != np.float64):
            return self.evaluate(_merged(record, x, names))
        last_names, index = self._last
        if names is not last_names:  # the scorer passes the same tuple every time
            index = self._index.get(names)
            if index is None:
                # the last column of a repeated name; interned keys, as the compiled leaves' names (rules/native.py)
                index = self._index[names] = {(intern(n) if type(n) is str else n): i for i, n in enumerate(names)}
            self._last = (names, index)
        # round 16: the names as make_values -- the compiled loop builds the merged dict when a closure needs it (no
        # closure per event); None: x is not an exact contiguous float64 ndarray, so take the callable form
        xc, fired = x, prog.fired_parts(record, x, index, names)
        if fired is None:
            xc = x if x.flags.c_contiguous else np.ascontiguousarray(x)
            fired = prog.fired_parts(record, xc, index, lambda: _merged(record, xc, names))
        idx, values = fired
        if not idx:
            return idx  # type: ignore[no-any-return]
        return self._hits(idx, values, record, xc, names)

    def _hits(self, idx: list[int], values: dict[str, Any] | None, record: Mapping[str, Any], xc: np.ndarray,
              names: tuple[str, ...]) -> list[RuleHit]:
        """The :class:`RuleHit` list of the fired rules ``idx`` (``Program.fired_parts``' answer), reasons rendered
        from ``values`` (the merged dict, built here when ``None`` and a reason reads a value); shared by
        :meth:`evaluate_parts` and the compiled ``Scorer.score`` (``_core/pipeline_decide.h``)."""
        scalar = self._scalar
        make = _MAKE_HITS
        if values is None:
            static = self._static_reasons
            if make is not None:  # the static reasons' hits in C; None: a reason reads a value
                hits = make(self._hit_rows, idx, static)
                if hits is not None:
                    return hits  # type: ignore[no-any-return]
            elif all(static[i] is not None for i in idx):  # no reason reads a value: no merged dict to build
                return [RuleHit(r.code, r.action, r.score, static[i], r.shadow, r.priority)
                        for i, r in zip(idx, [scalar[i][1] for i in idx])]
            values = _merged(record, xc, names)
        if make is not None:
            hits = make(self._hit_rows, idx, [rend(values) for _t, _r, rend in map(scalar.__getitem__, idx)])
            if hits is not None:
                return hits  # type: ignore[no-any-return]
        return [RuleHit(r.code, r.action, r.score, rend(values), r.shadow, r.priority)
                for _t, r, rend in map(scalar.__getitem__, idx)]

    def evaluate_columns(self, columns: Mapping[str, Any], n: int) -> HitMatrix:
        """Evaluate every rule on ``n`` rows of columns; returns a :class:`HitMatrix`."""
        env = ColumnEnv(columns, n)
        matrix = np.zeros((env.n, len(self.rules)), dtype=bool, order="F")  # contiguous columns
        for j, f in enumerate(self._vector):
            matrix[:, j] = f(env)
        return HitMatrix(matrix, self.codes, [r.action for r in self.rules], [r.score for r in self.rules],
                         [r.shadow for r in self.rules], [r.priority for r in self.rules],
                         renderers=self._renderers)

    def __repr__(self) -> str:
        return f"CompiledRuleSet({len(self.rules)} rules, version={self.version!r})"

