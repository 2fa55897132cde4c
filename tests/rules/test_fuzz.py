"""Fuzzing the parser: every input compiles into a safe evaluator or raises RuleSyntaxError."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudscore.errors import ConfigError, RuleSyntaxError
from fraudscore.rules import Rule, RuleSet
from fraudscore.rules.parser import expr_lists, expr_names, parse_expression
from fraudscore.rules.scalar import compile_condition, split_list
from fraudscore.rules.vector import ColumnEnv, compile_vector

LIST_SETS = {"l": split_list(["a", 1])}

INJECTIONS = [
    "__import__('os').system('echo pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "lower.__globals__",
    "abs.__self__.__import__('os')",
    "(lambda: 1)()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "getattr(a, '__class__')",
    "eval('1')", "exec('x=1')", "compile('1', 'f', 'eval')", "open('/etc/passwd')",
    "globals()", "locals()", "vars()", "breakpoint()", "__builtins__",
    "a.__class__", "'x'.join", "'{0.__class__}'.format(a)", "f'{a.__class__}'",
    "a[0]", "a[::-1]", "{**a}", "*a", "(yield a)", "await a", "a := 1",
    "min(*a)", "min(**a)", "max(a, key=abs)", "lower(s).upper()", "@__builtins__",
    "s in @__class__", "ip in @l.__class__", "a @ b", "a in @", "@", "@@l", "ip in @ l",
    "x\x00 > 1", "a > 1; import os", "a > 1\nimport os", "a > 1) or (__import__('os')",
    "'\\N{LATIN SMALL LETTER A}' == s", "9" * 5000, "1e999999 > a", "-1e999999 < a",
    "(" * 1000 + "a" + ")" * 1000, "not " * 2000 + "a", "-" * 3000 + "a", "a" + " + a" * 900,
    "[" * 500 + "]" * 500, "a in [" + "1," * 1800 + "]", "\\", "'''", "#", "a > 1 #", "\t a", "a\r\n> 1",
    "ａ > 1", "a > ١", "True.real", "None", "...", "a if a else a", "a < b < c < d < e < f",
]


def _check_safe(src: str) -> None:
    """Either a RuleSyntaxError, or an expression both evaluators run without raising."""
    try:
        expr = parse_expression(src, code="FUZZ")
    except RuleSyntaxError as err:
        assert err.code == "FUZZ"
        str(err)  # rendering the caret never fails
        return
    names = expr_names(expr)
    lists = {name: split_list(["a", 1.0]) for name in expr_lists(expr)}
    f = compile_condition(expr, lists)
    row = {name: v for name, v in zip(sorted(names), [1.0, "a", None, math.nan, True] * 20)}
    assert isinstance(f(row), bool)
    assert isinstance(f({}), bool)
    n = 3
    cols = {name: np.array([1.0, math.nan, -2.0]) for name in names}
    out = compile_vector(expr, lists)(ColumnEnv(cols, n))
    assert out.dtype == bool and out.shape == (n,)


@pytest.mark.parametrize("src", INJECTIONS)
def test_injection_attempts_are_rejected_or_harmless(src: str) -> None:
    _check_safe(src)


@pytest.mark.parametrize("src", [s for s in INJECTIONS if "__" in s or "import" in s or "lambda" in s])
def test_injection_attempts_never_compile(src: str) -> None:
    with pytest.raises(RuleSyntaxError):
        parse_expression(src)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_random_text(src: str) -> None:
    _check_safe(src)


ALPHABET = "ab _.()[]{}'\"@:,+-*/<>=!~%&|^#\n01239eE" + "not and or in is lambda if else abs min lower __ "
tokens = st.sampled_from([
    "a", "b", "s", "(", ")", "[", "]", ",", ".", "'x'", "1", "2.5", "@l", "@", "+", "-", "*", "/", "**",
    " and ", " or ", "not ", " in ", " not in ", " is ", "==", "!=", "<", ">=", "abs(", "min(", "lower(",
    "is_missing(", "startswith(", "__class__", "__import__", "lambda:", " if ", " else ", "for", "{", "}",
    ":", "=", ":=", "True", "None", "x.y", "[0]", "f'", "\n", "#",
])


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tokens, max_size=25).map("".join))
def test_token_soup(src: str) -> None:
    _check_safe(src)


@settings(deadline=None, max_examples=100)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_near_miss_text(src: str) -> None:
    _check_safe(src)


def _py_ast(children: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
    """Arbitrary Python expression ASTs, many of them outside the language."""
    name = st.sampled_from(["a", "b", "s", "abs", "lower", "__class__", "__import__", "os", "eval"])
    return st.one_of(
        st.builds(ast.Attribute, value=children, attr=st.sampled_from(["__class__", "x", "__globals__"]),
                  ctx=st.just(ast.Load())),
        st.builds(ast.Subscript, value=children, slice=children, ctx=st.just(ast.Load())),
        st.builds(ast.Call, func=st.one_of(name.map(lambda n: ast.Name(n, ast.Load())), children),
                  args=st.lists(children, max_size=3), keywords=st.just([])),
        st.builds(ast.BinOp, left=children, op=st.sampled_from([ast.Add(), ast.Pow(), ast.Div(), ast.MatMult(),
                                                                ast.Mod(), ast.LShift()]), right=children),
        st.builds(ast.UnaryOp, op=st.sampled_from([ast.Not(), ast.USub(), ast.Invert()]), operand=children),
        st.builds(ast.BoolOp, op=st.sampled_from([ast.And(), ast.Or()]), values=st.lists(children, min_size=2,
                                                                                         max_size=3)),
        st.builds(ast.Compare, left=children, ops=st.lists(st.sampled_from(
            [ast.Eq(), ast.Lt(), ast.In(), ast.NotIn(), ast.Is()]), min_size=1, max_size=2).map(list),
            comparators=st.lists(children, min_size=2, max_size=2)).map(
            lambda c: ast.Compare(c.left, c.ops, c.comparators[:len(c.ops)])),
        st.builds(ast.List, elts=st.lists(children, max_size=3), ctx=st.just(ast.Load())),
        st.builds(ast.IfExp, test=children, body=children, orelse=children),
        st.builds(ast.Lambda, args=st.just(ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                         defaults=[])), body=children),
        st.builds(ast.ListComp, elt=children, generators=st.just(
            [ast.comprehension(ast.Name("c", ast.Store()), ast.Name("a", ast.Load()), [], 0)])),
    )


leaves = st.one_of(
    st.sampled_from(["a", "b", "s", "__x__", "_a"]).map(lambda n: ast.Name(n, ast.Load())),
    st.one_of(st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3), st.booleans(), st.none(),
              st.binary(max_size=2)).map(ast.Constant),
)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(leaves, _py_ast, max_leaves=12))
def test_random_python_asts(tree: ast.expr) -> None:
    try:
        src = ast.unparse(ast.fix_missing_locations(ast.Expression(tree)))
    except Exception:  # noqa: BLE001 - hypothesis may build trees unparse cannot print
        return
    _check_safe(src)


@settings(deadline=None, max_examples=100)
@given(st.text(max_size=40), st.text(max_size=40))
def test_whole_rules_raise_only_config_errors(when: str, reason: str) -> None:
    try:
        rs = RuleSet([Rule("FUZZ", when, reason=reason)])
    except ConfigError:  # RuleSyntaxError is a ConfigError
        return
    try:
        crs = rs.compile(expr_names(rs.rules[0].expr) | {"a"})
    except RuleSyntaxError:
        return
    crs.evaluate({})
    crs.evaluate_columns({}, 2)
