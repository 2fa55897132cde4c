"""Read and write rule-set TOML (reading with :mod:`tomllib`; writing by hand, no dependency).

Layout::

    [lists.blocked_ips]            # optional named lists
    kind = "ip"                    # entries go through list_transform("ip", value)
    file = "blocked_ips.txt"       # or: values = ["192.0.2.1", ...]

    [[rules]]
    code = "DEV_MANY_IDS_24H"
    description = "Many applicant IDs on one device"
    when = "distinct__applicant_id__by__device_id__24h >= 3"
    action = "review"
    score = 150
    reason = "{distinct__applicant_id__by__device_id__24h} IDs on this device in 24 h"

Examples
--------
>>> toml_string('say "hi"\\n')
'"say \\\\"hi\\\\"\\\\n"'
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..limits import MAX_RULES_BYTES
from .lists import NamedList, load_list_file
from .parser import did_you_mean

__all__ = ["read_toml", "write_toml", "toml_string", "RULE_KEYS"]

RULE_KEYS = ("code", "description", "when", "action", "score", "reason", "enabled", "shadow", "priority")
_LIST_KEYS = ("values", "file", "kind", "description")


def toml_string(s: str) -> str:
    """Quote a string as a TOML basic string."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            raise ConfigError("Strings in a rule set must not contain lone surrogate characters.")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    raise ConfigError(f"Cannot write a {type(v).__name__} to TOML.")  # pragma: no cover


def write_toml(rules: list[dict[str, Any]], lists: Mapping[str, NamedList]) -> str:
    """Serialise rules (dicts with :data:`RULE_KEYS`) and lists; list entries are written inline."""
    parts: list[str] = ["# fraudscore rule set\n"]
    for name in sorted(lists):
        lst = lists[name]
        parts.append(f"\n[lists.{name}]\n")
        if lst.kind is not None:
            parts.append(f"kind = {toml_string(lst.kind)}\n")
        if lst.description:
            parts.append(f"description = {toml_string(lst.description)}\n")
        parts.append("values = [" + ", ".join(_toml_value(v) for v in lst.values) + "]\n")
    for rule in rules:
        parts.append("\n[[rules]]\n")
        for key in RULE_KEYS:
            parts.append(f"{key} = {_toml_value(rule[key])}\n")
    return "".join(parts)


def _looks_like_path(src: str) -> bool:
    """A one-line string naming a ``.toml`` file (anything else is TOML text, a one-line rule set included)."""
    s = src.strip()
    return bool(s) and "\n" not in src and "=" not in s and "[" not in s and s.lower().endswith(".toml")


def _parse_toml(text: str) -> dict[str, Any]:
    if len(text) > MAX_RULES_BYTES:
        raise ConfigError(f"Rule set is larger than {MAX_RULES_BYTES // 2**20} MiB.")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Rule set is not valid TOML: {exc}.") from None
    except RecursionError:
        raise ConfigError("Rule set is not valid TOML: it nests arrays or tables too deeply.") from None


def _list_entries(text_or_values: Any) -> tuple[Any, ...]:
    if isinstance(text_or_values, str):
        return tuple(s for line in text_or_values.splitlines() if (s := line.strip()) and not s.startswith("#"))
    return tuple(text_or_values)


def read_toml(path_or_text: str | Path, lists_dir: str | Path | None = None,
              lists: Mapping[str, Any] | None = None, *,
              bundled: bool = False) -> tuple[list[dict[str, Any]], dict[str, NamedList]]:
    """Parse rule-set TOML from a file path or a TOML string.

    A list ``file`` is looked up first in ``lists`` (by file name, then stem, then
    list name; values are list-file text or sequences of entries), then on disk
    relative to ``lists_dir``, else the TOML file's folder, else the current
    directory. Entries of ``lists`` that no ``[lists.*]`` table uses become lists of
    their own (without a kind) when their key is an identifier.

    With ``bundled=True`` (a bundle's rule set) ``path_or_text`` is always TOML
    text, never a path, and a ``[lists.x]`` table with ``file`` is refused: nothing
    outside the bundle is ever read.
    """
    supplied = dict(lists or {})
    base: Path | None = None
    if bundled and not isinstance(path_or_text, str):
        raise ConfigError(f"A bundle's rule set must be TOML text. Got {type(path_or_text).__name__} instead.")
    if not bundled and (isinstance(path_or_text, Path)
                        or (isinstance(path_or_text, str) and _looks_like_path(path_or_text))):
        p = Path(path_or_text)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Cannot read rule file {str(p)!r}: {exc.strerror or exc}.") from None
        base = p.parent
    elif isinstance(path_or_text, str):
        text = path_or_text
    else:
        raise ConfigError(f"The 'path_or_text' parameter of RuleSet.from_toml must be a path or TOML text. "
                          f"Got {type(path_or_text).__name__} instead.")
    data = _parse_toml(text)
    unknown = set(data) - {"rules", "rule", "lists"}
    if unknown:
        raise ConfigError(f"Unknown top-level keys {sorted(unknown)} in rule set; expected [[rules]] and [lists.*].")
    if "rule" in data:  # accept [[rule]] as an alias of [[rules]]
        if "rules" in data:
            raise ConfigError("Use either [[rules]] or [[rule]] tables, not both.")
        data["rules"] = data.pop("rule")
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise ConfigError("'rules' must be an array of tables ([[rules]]).")
    rules: list[dict[str, Any]] = []
    for i, r in enumerate(raw_rules):
        if not isinstance(r, dict):
            raise ConfigError(f"rules[{i}] must be a table.")
        for key in r:
            if key not in RULE_KEYS:
                raise ConfigError(f"Unknown key {key!r} in rules[{i}] ({r.get('code', '?')!s})"
                                  f"{did_you_mean(key, RULE_KEYS)}.")
        rules.append(dict(r))
    out: dict[str, NamedList] = {}
    used: set[str] = set()
    raw_lists = data.get("lists", {})
    if not isinstance(raw_lists, dict):
        raise ConfigError("'lists' must be a table of tables ([lists.name]).")
    list_base = Path(lists_dir) if lists_dir is not None else (base or Path.cwd())
    for name, spec in raw_lists.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"[lists.{name}] must be a table.")
        for key in spec:
            if key not in _LIST_KEYS:
                raise ConfigError(f"Unknown key {key!r} in [lists.{name}]{did_you_mean(key, _LIST_KEYS)}.")
        if ("values" in spec) == ("file" in spec):
            raise ConfigError(f"[lists.{name}] needs exactly one of 'values' or 'file'.")
        if "values" in spec:
            values = spec["values"]
            if not isinstance(values, list):
                raise ConfigError(f"[lists.{name}] 'values' must be an array.")
        elif bundled:
            raise ConfigError(f"[lists.{name}] names a file, which a bundle's rule set may not do (nothing outside "
                              "the bundle is read): give its entries inline as 'values = [...]'.")
        else:
            fname = str(spec["file"])
            key = next((k for k in (fname, Path(fname).stem, name) if k in supplied), None)
            if key is not None:
                used.add(key)
                values = _list_entries(supplied[key])
            else:
                values = load_list_file(list_base / fname)
        out[name] = NamedList(name, values, spec.get("kind"), spec.get("description", ""))
    for key, value in supplied.items():
        if key not in used and key not in out and key.isidentifier() and not key.startswith("__"):
            out[key] = NamedList(key, _list_entries(value))
    return rules, out
