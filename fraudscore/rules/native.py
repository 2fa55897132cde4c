"""Rule conditions for the compiled evaluator (``fraudscore/_core/rules.c``), translated from the rule IR.

:func:`condition_tree` turns a checked expression into the nested tuples the C
``Program`` evaluates: ``and`` / ``or`` / ``not`` nodes, ``name <op> number`` leaves
(compared in C when the value is a float, else through the leaf's Python closure),
``name [not] in list`` leaves (looked up in C when the value is a str, a float or
missing), ``name == / != "text"`` leaves (compared in C when the value is a str, a float or
missing) and, for every other condition, its Python closure from :mod:`.scalar`. The
closures are the reference, so the compiled result is the Python result by
construction; ``tests/rules/test_native.py`` checks it with hypothesis.

Examples
--------
>>> from fraudscore.rules.parser import parse_expression
>>> t = condition_tree(parse_expression("a > 1 and not b == 2"), {})
>>> t[0], t[1][0][:4], t[1][1][0], t[1][1][1][:4]
('and', ('cmp', 'a', 0, 1.0), 'not', ('cmp', 'b', 4, 2.0))
>>> condition_tree(parse_expression("ip not in ['p:1', 2]"), {})[:5]
('in', 'ip', True, frozenset({2.0}), frozenset({'p:1'}))
>>> condition_tree(parse_expression("channel == 'web'"), {})[:4]
('streq', 'channel', 4, 'web')
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .._core import load as load_core
from .ir import BoolOp, Compare, Const, Expr, ListLit, ListRef, Member, Name, Not
from .scalar import _name_num_cmp, compile_condition, split_list

__all__ = ["condition_tree", "program"]

def _interned(name: Any) -> Any:
    """The interned copy of a leaf's name: the evaluator's dict lookups then match record keys and feature
    names by identity, not by comparing text (round 9: ~170 -> ~50 instructions per lookup)."""
    return sys.intern(name) if type(name) is str else name


_OPS = {">": 0, ">=": 1, "<": 2, "<=": 3, "==": 4, "!=": 5}
Lists = Mapping[str, tuple[frozenset[float], frozenset[str]]]


def condition_tree(e: Expr, lists: Lists) -> tuple[Any, ...]:
    """The compiled evaluator's tree of ``e`` (see the module docstring)."""
    if isinstance(e, Compare) and isinstance(e.left, Name) and isinstance(e.right, Const) \
            and isinstance(e.right.value, float) and e.op in _OPS:
        return ("cmp", _interned(e.left.name), _OPS[e.op], e.right.value, _name_num_cmp(e.left.name, e.op, e.right.value))
    if isinstance(e, Compare) and isinstance(e.left, Name) and isinstance(e.right, Const) \
            and e.right.value.__class__ is str and e.op in ("==", "!="):
        return ("streq", _interned(e.left.name), _OPS[e.op], e.right.value, compile_condition(e, lists))
    if isinstance(e, Member) and isinstance(e.left, Name) and isinstance(e.container, (ListRef, ListLit)):
        nums, strs = (lists[e.container.name] if isinstance(e.container, ListRef)
                      else split_list(e.container.values))
        return ("in", _interned(e.left.name), bool(e.negate), frozenset(nums), frozenset(strs), compile_condition(e, lists))
    if isinstance(e, BoolOp) and e.op in ("and", "or"):
        return (e.op, tuple(condition_tree(o, lists) for o in e.operands))
    if isinstance(e, Not):
        return ("not", condition_tree(e.operand, lists))
    return ("py", compile_condition(e, lists))


def program(exprs: Iterable[Expr], lists: Lists) -> Any:
    """A compiled ``Program`` over ``exprs`` (``fired(values)`` -> indices), or ``None`` without the extension."""
    core = load_core("rules")
    if core is None:
        return None
    return core.Program(tuple(condition_tree(e, lists) for e in exprs))


def make_hits_kernel(hit_cls: type) -> Any:
    """``make_hits(rows, idx, reasons)``: the compiled builder of ``hit_cls`` instances (``_core.rules.make_hits``
    bound to the class and its slot descriptors), or ``None`` (no extension, or a class whose fields are not the
    plain slots of a frozen dataclass ``(code, action, score, reason, shadow, priority)`` without ``__post_init__``).

    It sets the slots as the dataclass's generated ``__init__`` does (``object.__setattr__``), so a hit made by it
    equals, hashes, prints and stays frozen as the constructor's (``tests/rules/test_hits_compiled.py``).
    """
    import dataclasses
    import functools
    import types

    core = load_core("rules")
    if core is None or not hasattr(core, "make_hits") or not dataclasses.is_dataclass(hit_cls):
        return None
    fields = tuple(f.name for f in dataclasses.fields(hit_cls))
    descrs = tuple(hit_cls.__dict__.get(f) for f in fields)
    params = getattr(hit_cls, "__dataclass_params__", None)
    if (fields != ("code", "action", "score", "reason", "shadow", "priority") or hasattr(hit_cls, "__post_init__")
            or not all(type(d) is types.MemberDescriptorType for d in descrs)
            or params is None or not params.frozen or "__init__" not in hit_cls.__dict__):
        return None  # pragma: no cover - the kernel's field order no longer matches the dataclass
    return functools.partial(core.make_hits, hit_cls, descrs)
