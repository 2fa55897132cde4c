"""Named lists for ``x in @name``: from TOML (inline values or a text file) or Python.

A list file has one entry per line; blank lines and lines starting with ``#``
are skipped, surrounding whitespace is stripped. A list may declare a ``kind``
(e.g. ``"ip"``, ``"phone"``): at compile time every entry of such a list goes
through the caller's ``list_transform(kind, value)``, typically the
pseudonymiser, because identifier fields hold pseudonyms at scoring time.

Examples
--------
>>> lst = NamedList("blocked_ips", ("192.0.2.1", "192.0.2.7"), kind="ip")
>>> lst.transformed(lambda kind, v: "p:" + v[-1]).values
('p:1', 'p:7')
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["NamedList", "load_list_file", "coerce_lists", "ListTransform", "is_pseudonym"]

ListTransform = Callable[[str, str], str]
MAX_LIST_ENTRIES = 5_000_000
_PSEUDONYM = re.compile(r"p:[0-9a-f]{32}")


def is_pseudonym(value: str) -> bool:
    """Whether ``value`` has the form of a keyed pseudonym (``p:`` + 32 lower-case hex digits).

    Examples
    --------
    >>> is_pseudonym("p:" + "ab" * 16), is_pseudonym("+8613800138000")
    (True, False)
    """
    return len(value) == 34 and _PSEUDONYM.fullmatch(value) is not None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
        raise ConfigError(f"The 'name' parameter of NamedList must be an identifier. Got {name!r} instead.")
    return name


def _check_value(name: str, v: Any) -> str | float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        f = float(v)
        if not math.isnan(f):
            return f
    raise ConfigError(f"The entries of list {name!r} must be strings or numbers. Got {type(v).__name__} instead.")


@dataclass(frozen=True)
class NamedList:
    """A named list of strings and numbers.

    Parameters
    ----------
    name : str
        Referenced in rules as ``@name``.
    values : tuple of str or float
        The entries.
    kind : str, optional
        Identifier kind of the entries (``"ip"``, ``"phone"``...); such entries are
        mapped through ``list_transform`` at compile time.
    description : str
        Free text.

    Examples
    --------
    >>> NamedList("channels", ["web", "h5"]).values
    ('web', 'h5')
    """

    name: str
    values: tuple[str | float, ...]
    kind: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Iterable):
            raise ConfigError(f"The 'values' parameter of NamedList must be a list. "
                              f"Got {type(self.values).__name__} instead.")
        vals = tuple(_check_value(self.name, v) for v in self.values)
        if len(vals) > MAX_LIST_ENTRIES:
            raise ConfigError(f"List {self.name!r} has {len(vals)} entries; at most {MAX_LIST_ENTRIES}.")
        object.__setattr__(self, "values", vals)
        if self.kind is not None and (not isinstance(self.kind, str) or not self.kind):
            raise ConfigError(f"The 'kind' parameter of NamedList must be a non-empty string. "
                              f"Got {self.kind!r} instead.")

    @classmethod
    def from_file(cls, name: str, path: str | Path, kind: str | None = None,
                  description: str = "") -> NamedList:
        """Load a list from a text file (one entry per line, ``#`` comments)."""
        return cls(name, load_list_file(path), kind=kind, description=description)

    def transformed(self, transform: ListTransform | None) -> NamedList:
        """Entries mapped through ``transform(kind, value)`` when this list has a kind.

        Entries that already are pseudonyms (``p:`` + 32 hex digits, e.g. a list
        pseudonymised when its bundle was saved) are kept as they are; entries the
        transform maps to ``None`` (nothing left after normalisation) are dropped.

        Examples
        --------
        >>> lst = NamedList("bad", ("p:" + "0" * 32, "x"), kind="phone")
        >>> lst.transformed(lambda kind, v: "p:" + "1" * 32).values == ("p:" + "0" * 32, "p:" + "1" * 32)
        True
        """
        if transform is None or self.kind is None:
            return self
        kind = self.kind
        out = []
        for v in self.values:
            if isinstance(v, str) and is_pseudonym(v):
                out.append(v)
                continue
            t = transform(kind, str(v) if not isinstance(v, str) else v)
            if t is not None:
                out.append(t)
        return NamedList(self.name, tuple(out), kind=kind, description=self.description)

    def has_raw_entries(self) -> bool:
        """Whether this list has a kind and an entry that is not a pseudonym yet (bundles pseudonymise those)."""
        return self.kind is not None and any(not (isinstance(v, str) and is_pseudonym(v)) for v in self.values)

    def canonical(self) -> dict[str, Any]:
        """A JSON-able form for content hashing (entries sorted, order does not matter)."""
        return {"kind": self.kind, "description": self.description,
                "values": sorted((type(v).__name__, repr(v)) for v in self.values)}


def load_list_file(path: str | Path) -> tuple[str, ...]:
    """Read a list file: one entry per line, blank lines and ``#`` comments skipped.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "ips.txt")
    ...     _ = open(p, "w").write("# blocked\\n192.0.2.1\\n\\n 192.0.2.9 \\n")
    ...     load_list_file(p)
    ('192.0.2.1', '192.0.2.9')
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read list file {str(p)!r}: {exc.strerror or exc}.") from None
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            out.append(s)
    return tuple(out)


def coerce_lists(lists: Mapping[str, Any] | Iterable[NamedList] | None) -> dict[str, NamedList]:
    """Accept ``{name: [values]}``, ``{name: {"values": [...], "kind": ...}}``, ``{name: NamedList}``
    or an iterable of :class:`NamedList`; return ``{name: NamedList}``.

    Examples
    --------
    >>> sorted(coerce_lists({"a": ["x"], "b": {"values": ["1.2.3.4"], "kind": "ip"}}))
    ['a', 'b']
    """
    if lists is None:
        return {}
    out: dict[str, NamedList] = {}
    if isinstance(lists, Mapping):
        for name, spec in lists.items():
            if isinstance(spec, NamedList):
                if spec.name != name:
                    spec = NamedList(name, spec.values, spec.kind, spec.description)
                out[name] = spec
            elif isinstance(spec, Mapping):
                unknown = set(spec) - {"values", "kind", "description"}
                if unknown:
                    raise ConfigError(f"List {name!r} has unknown keys {sorted(unknown)}; "
                                      "expected 'values', 'kind', 'description'.")
                out[name] = NamedList(name, spec.get("values", ()), spec.get("kind"), spec.get("description", ""))
            else:
                out[name] = NamedList(name, spec)
        return out
    for item in lists:
        if not isinstance(item, NamedList):
            raise ConfigError(f"The 'lists' parameter of RuleSet must hold NamedList objects. "
                              f"Got {type(item).__name__} instead.")
        out[item.name] = item
    return out
