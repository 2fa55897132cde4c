"""The expression language: what parses, what is rejected, and how errors look."""

from __future__ import annotations

import pytest

from fraudscore.errors import ConfigError, RuleSyntaxError
from fraudscore.rules import Rule, RuleSet
from fraudscore.rules.parser import (MAX_DEPTH, MAX_SOURCE_CHARS, BoolOp, Call, Compare, Const, ListLit, ListRef,
                                     Member, Name, Not, check_names, expr_lists, expr_names, parse_expression)


@pytest.mark.parametrize("src", [
    "a > 1", "a >= 1 and b < 2", "not (a == 1) or b != 2", "1 < a <= 3", "a + b * 2 - c / 4 > 0",
    "-a > 3", "+a > 3", "s in ['x', 'y']", "s not in ('x',)", "a in [1, 2.5, -3]", "ip in @blocked",
    "ip not in @blocked", "abs(a) > 1", "min(a, b, c) < 2", "max(a, b) > 1", "log1p(a) > 2",
    "is_missing(a)", "startswith(s, 'ab')", "lower(s) == 'web'", "a", "True", "s == 'x' and (a > 1 or b > 1)",
    "a > 1\n and b > 2", "a == True",
])
def test_allowed_forms_parse(src: str) -> None:
    parse_expression(src)


def test_ir_shapes() -> None:
    e = parse_expression("1 < a <= 3")
    assert isinstance(e, BoolOp) and e.op == "and"
    assert [type(x) for x in e.operands] == [Compare, Compare]
    assert e.operands[1].left == Name((1, 4), "a")
    m = parse_expression("s not in ['x', 2, True, -1]")
    assert isinstance(m, Member) and m.negate
    assert m.container == ListLit((1, 9), ("x", 2.0, 1.0, -1.0))
    r = parse_expression("ip in @bl")
    assert isinstance(r, Member) and isinstance(r.container, ListRef) and r.container.name == "bl"
    assert parse_expression("True") == Const((1, 0), 1.0)
    assert isinstance(parse_expression("not a"), Not)
    assert isinstance(parse_expression("lower(s)"), Call)
    assert expr_names(parse_expression("max(a, b) > c and s in @l")) == {"a", "b", "c", "s"}
    assert expr_lists(parse_expression("s in @l or t not in @k")) == {"l", "k"}


@pytest.mark.parametrize("src, fragment, col", [
    ("a.b", "attribute access", 1),
    ("x[0]", "subscripts", 1),
    ("__import__('os')", "names starting with '__'", 0),
    ("a > __class__", "names starting with '__'", 4),
    ("open('f')", "unknown function 'open'", 0),
    ("lowr(s)", "did you mean 'lower'", 0),
    ("(lambda: 1)()", "only calls of the functions", 0),
    ("[x for x in y]", "comprehensions", 0),
    ("a if b else c", "conditional expressions", 0),
    ("a is None", "'is' / 'is not'", 0),
    ("a == None", "None is not allowed", 5),
    ("f'{a}'", "f-strings", 0),
    ("a ** 2", "not allowed", 0),
    ("a // 2", "not allowed", 0),
    ("a in b", "'in' needs a literal list", 5),
    ("a in [b]", "list items must be numbers or strings", 6),
    ("[1, 2]", "only allowed after 'in'", 0),
    ("@l", "only allowed after 'in'", 0),
    ("a @ b", "not allowed", 0),
    ("'x' + 1", "arithmetic needs numbers", 0),
    ("'x' < 1", "cannot order a string", 6),
    ("abs('x')", "needs numbers", 4),
    ("lower(1)", "needs strings", 6),
    ("min(a)", "two or more arguments", 0),
    ("abs(a, b)", "takes 1 argument", 0),
    ("abs(x=a)", "keyword arguments", 6),
    ("b'x' == s", "bytes constants", 0),
    ("1j > a", "complex constants", 0),
    ("(a := 1)", "assignment expressions", 1),
    ("{'a': 1}", "dict literals", 0),
    ("~a", "'~'", 0),
    ("a >", "invalid syntax", 3),
    ("a > > 1", "invalid syntax", 4),
    ("", "empty", None),
])
def test_rejected_forms(src: str, fragment: str, col: int | None) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_expression(src, code="R1")
    err = info.value
    assert fragment in str(err)
    assert err.code == "R1" and "rule 'R1'" in str(err)
    if col is not None:
        assert err.col == col and err.line is not None
        last = str(err).splitlines()[-1]
        assert last.index("^") - 4 == col  # the caret sits under the offending part


def test_caret_on_second_line() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_expression("a > 1 and\n  b.c > 2")
    assert (info.value.line, info.value.col) == (2, 3)
    assert str(info.value).endswith("  b.c > 2\n       ^")


def test_multiline_and_comments() -> None:
    e = parse_expression("a > 1  # first\n  and b > 2")
    assert expr_names(e) == {"a", "b"}
    with pytest.raises(RuleSyntaxError) as info:
        parse_expression("a > 1 and\n  b +")
    assert info.value.line == 2


def test_caret_counts_characters_not_bytes() -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_expression("s == 'éé' and x.y")
    assert info.value.col == 15


def test_bounds() -> None:
    with pytest.raises(RuleSyntaxError, match="too long"):
        parse_expression("a + " * MAX_SOURCE_CHARS + "a")
    with pytest.raises(RuleSyntaxError, match="nested too deeply"):
        parse_expression("-" * (MAX_DEPTH + 5) + "a")
    with pytest.raises(RuleSyntaxError, match="nested too deeply"):
        parse_expression("not " * (MAX_DEPTH + 5) + "a")
    with pytest.raises(RuleSyntaxError, match="invalid syntax"):
        parse_expression("(" * 300 + "a" + ")" * 300)  # Python's own parser limit
    with pytest.raises(RuleSyntaxError, match="too large"):
        parse_expression("a in [" + ",".join(["0"] * 1100) + "]")
    with pytest.raises(RuleSyntaxError, match="too large"):
        parse_expression("1" + "0" * 400)
    parse_expression("a in [" + ", ".join(str(i) for i in range(500)) + "]")


def test_unknown_names_suggest_closest() -> None:
    src = "distinct__applicant_id__by__device_id__24 >= 3"
    e = parse_expression(src)
    with pytest.raises(RuleSyntaxError) as info:
        check_names(e, src, {"distinct__applicant_id__by__device_id__24h", "amount"}, [], code="DEV")
    assert "did you mean 'distinct__applicant_id__by__device_id__24h'" in str(info.value)
    assert info.value.code == "DEV" and info.value.col == 0
    with pytest.raises(RuleSyntaxError, match="unknown name 'zzz'") as info2:
        check_names(parse_expression("zzz > 1"), "zzz > 1", {"amount"}, [])
    assert "did you mean" not in str(info2.value)


def test_unknown_list_reported_at_load_and_compile() -> None:
    with pytest.raises(RuleSyntaxError, match=r"unknown list '@blocked_ip'; did you mean 'blocked_ips'") as info:
        RuleSet([Rule("IPB", "ip in @blocked_ip", action="decline")], lists={"blocked_ips": ["1.2.3.4"]})
    assert info.value.col == 6 and info.value.code == "IPB"


def test_rule_fields_validated() -> None:
    with pytest.raises(ConfigError, match="'action' parameter of Rule"):
        Rule("A", "a > 1", action="block")
    with pytest.raises(ConfigError, match="'code' parameter"):
        Rule("lower_case", "a > 1")
    with pytest.raises(ConfigError, match="'score' parameter"):
        Rule("A", "a > 1", score=5000)
    with pytest.raises(ConfigError, match="'shadow' parameter"):
        Rule("A", "a > 1", shadow="yes")  # type: ignore[arg-type]
    with pytest.raises(RuleSyntaxError, match="plain names"):
        Rule("A", "a > 1", reason="{a!r}")
    with pytest.raises(RuleSyntaxError, match="bad reason template"):
        Rule("A", "a > 1", reason="{a")
    with pytest.raises(RuleSyntaxError):
        Rule("A", 5)  # type: ignore[arg-type]
