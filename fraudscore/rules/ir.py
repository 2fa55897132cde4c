"""The expression IR: small immutable nodes shared by the parser and both compilers.

Every node records ``pos`` = (1-based line, 0-based character column) in the rule's
``when`` text, for error messages.

Examples
--------
>>> e = BoolOp((1, 0), "and", (Name((1, 0), "a"), Not((1, 10), Name((1, 14), "b"))))
>>> [type(n).__name__ for n in walk(e)]
['BoolOp', 'Name', 'Not', 'Name']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Pos", "Expr", "Const", "Name", "ListRef", "ListLit", "Neg", "Arith", "Not", "BoolOp", "Compare",
           "Member", "Call", "walk"]

Pos = tuple[int, int]  # (1-based line, 0-based character column)


@dataclass(frozen=True, slots=True)
class Expr:
    """Base class of the expression IR. ``pos`` locates the node in the source."""

    pos: Pos


@dataclass(frozen=True, slots=True)
class Const(Expr):
    """A literal number (always a ``float``; ``True`` is ``1.0``) or string."""

    value: float | str


@dataclass(frozen=True, slots=True)
class Name(Expr):
    """A field or feature name."""

    name: str


@dataclass(frozen=True, slots=True)
class ListRef(Expr):
    """A named list, written ``@name``; only allowed after ``in`` / ``not in``."""

    name: str


@dataclass(frozen=True, slots=True)
class ListLit(Expr):
    """A literal list of numbers and strings; only allowed after ``in`` / ``not in``."""

    values: tuple[float | str, ...]


@dataclass(frozen=True, slots=True)
class Neg(Expr):
    """Unary minus."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class Arith(Expr):
    """Binary arithmetic: ``+``, ``-``, ``*`` or ``/``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not(Expr):
    """Logical negation of a condition."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class BoolOp(Expr):
    """``and`` / ``or`` over two or more conditions."""

    op: str
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Compare(Expr):
    """One comparison ``left op right`` (chains are split into ``and``)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Member(Expr):
    """``left in container`` or ``left not in container``."""

    negate: bool
    left: Expr
    container: ListRef | ListLit


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """A call of one of :data:`FUNCTIONS`."""

    func: str
    args: tuple[Expr, ...]



def walk(expr: Expr) -> Iterator[Expr]:
    """Yield every node of an expression tree (pre-order)."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        if isinstance(e, (Neg, Not)):
            stack.append(e.operand)
        elif isinstance(e, (Arith, Compare)):
            stack.extend((e.right, e.left))
        elif isinstance(e, BoolOp):
            stack.extend(reversed(e.operands))
        elif isinstance(e, Member):
            stack.extend((e.container, e.left))
        elif isinstance(e, Call):
            stack.extend(reversed(e.args))
