"""RuleSet: TOML round trip, content hash, lists, compile-time checks, combination, shadow, ordering."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fraudscore.errors import ConfigError, RuleSyntaxError
from fraudscore.rules import ACTION_CODES, CompiledRuleSet, NamedList, Rule, RuleHit, RuleSet, combine
from fraudscore.rules.template import format_value

TOML = '''
[lists.blocked_ips]
kind = "ip"
file = "blocked.txt"

[lists.risky_products]
values = ["cash_fast", "cash_night"]

[[rules]]
code = "DEV_MANY_IDS_24H"
description = "Several applicants on one device"
when = "distinct__applicant_id__by__device_id__24h >= 3"
action = "review"
score = 150
reason = "{distinct__applicant_id__by__device_id__24h} IDs on this device in 24 h"
priority = 10

[[rules]]
code = "IP_BLOCKED"
when = "ip in @blocked_ips"
action = "decline"
reason = "blocked IP"
priority = 50

[[rules]]
code = "VIP"
when = "product == 'vip' and amount < 1000"
action = "approve"
score = -100

[[rules]]
code = "RISKY_PRODUCT"
when = "product in @risky_products"
action = "tag"
score = 40
reason = "risky product {product}, amount {amount}"

[[rules]]
code = "SHADOW_BIG"
when = "amount > 50000"
action = "decline"
score = 500
shadow = true

[[rules]]
code = "OFF"
when = "amount > 0"
action = "decline"
enabled = false
'''
NAMES = ["distinct__applicant_id__by__device_id__24h", "ip", "product", "amount"]


@pytest.fixture
def rs(tmp_path: Path) -> RuleSet:
    (tmp_path / "blocked.txt").write_text("# known bad\n192.0.2.1\n\n192.0.2.9\n")
    (tmp_path / "rules.toml").write_text(TOML)
    return RuleSet.from_toml(tmp_path / "rules.toml")


def pseudo(kind: str, value: str) -> str:
    return f"p:{kind}:{value[::-1]}"


def test_load_and_compile(rs: RuleSet) -> None:
    assert [r.code for r in rs.rules] == ["DEV_MANY_IDS_24H", "IP_BLOCKED", "VIP", "RISKY_PRODUCT", "SHADOW_BIG", "OFF"]
    assert rs.lists["blocked_ips"] == NamedList("blocked_ips", ("192.0.2.1", "192.0.2.9"), kind="ip")
    crs = rs.compile(NAMES, list_transform=pseudo)
    assert isinstance(crs, CompiledRuleSet)
    # priority order (desc), then file order; disabled rule left out
    assert crs.codes == ("IP_BLOCKED", "DEV_MANY_IDS_24H", "VIP", "RISKY_PRODUCT", "SHADOW_BIG")
    assert crs.version == rs.version


def test_evaluate_hits_and_combination(rs: RuleSet) -> None:
    crs = rs.compile(NAMES, list_transform=pseudo)
    ev = {"distinct__applicant_id__by__device_id__24h": 4.0, "ip": pseudo("ip", "192.0.2.9"),
          "product": "cash_fast", "amount": 60000.0}
    hits = crs.evaluate(ev)
    assert [h.code for h in hits] == ["IP_BLOCKED", "DEV_MANY_IDS_24H", "RISKY_PRODUCT", "SHADOW_BIG"]
    assert hits[1] == RuleHit("DEV_MANY_IDS_24H", "review", 150, "4 IDs on this device in 24 h", False, 10)
    assert hits[2].reason == "risky product cash_fast, amount 60000"
    assert hits[3].shadow
    # the shadow decline's 500 points are ignored; the raw IP does not match the pseudonymised list
    assert combine(hits) == ("decline", 150 + 40)
    assert crs.evaluate({**ev, "ip": "192.0.2.9"})[0].code == "DEV_MANY_IDS_24H"


def test_allow_list_overrides_model_not_rules(rs: RuleSet) -> None:
    crs = rs.compile(NAMES, list_transform=pseudo)
    assert combine(crs.evaluate({"product": "vip", "amount": 500.0})) == ("approve", -100)
    both = crs.evaluate({"product": "vip", "amount": 500.0, "distinct__applicant_id__by__device_id__24h": 3})
    assert combine(both) == ("review", 50)
    assert combine(crs.evaluate({"amount": 60000.0})) == (None, 0)  # shadow only: the model decides


def test_combine_rules() -> None:
    def h(action: str, score: int = 0, shadow: bool = False) -> RuleHit:
        return RuleHit("X", action, score, "", shadow, 0)
    assert combine([h("tag", 5), h("tag", 7)]) == (None, 12)
    assert combine([h("approve"), h("decline")]) == ("decline", 0)
    assert combine([h("approve"), h("review")]) == ("review", 0)
    assert combine([h("decline", 10, shadow=True), h("approve", 3)]) == ("approve", 3)


def test_missing_values_render_and_never_match(rs: RuleSet) -> None:
    crs = rs.compile(NAMES, list_transform=pseudo)
    assert crs.evaluate({"distinct__applicant_id__by__device_id__24h": math.nan}) == []
    assert crs.evaluate({"distinct__applicant_id__by__device_id__24h": None, "ip": None}) == []
    hits = crs.evaluate({"product": "cash_night"})
    assert hits[0].reason == "risky product cash_night, amount missing"


def test_format_value() -> None:
    assert [format_value(v) for v in (3.0, -2.0, 1e20, 0.5, 2 / 3, 12345.678, math.inf, math.nan, None,
                                      False, "x")] == \
        ["3", "-2", "1e+20", "0.5", "0.667", "1.23e+04", "inf", "missing", "missing", "0", "x"]


def test_version_is_a_stable_content_hash(rs: RuleSet, tmp_path: Path) -> None:
    v = rs.version
    assert v.startswith("rs-") and len(v) == 19 and int(v[3:], 16) >= 0
    text = rs.to_toml()
    again = RuleSet.from_toml(text)
    assert again.version == v and again.to_toml() == text
    assert [r.to_dict() for r in again.rules] == [r.to_dict() for r in rs.rules]
    # list entry order does not matter; any rule field does
    lists = dict(rs.lists)
    lists["blocked_ips"] = NamedList("blocked_ips", ("192.0.2.9", "192.0.2.1"), kind="ip")
    assert RuleSet(rs.rules, lists).version == v
    changed = [Rule(**{**r.to_dict(), "score": r.score + 1}) if r.code == "VIP" else r for r in rs.rules]
    assert RuleSet(changed, rs.lists).version != v
    assert RuleSet(rs.rules[::-1], rs.lists).version != v
    lists["blocked_ips"] = NamedList("blocked_ips", ("192.0.2.9",), kind="ip")
    assert RuleSet(rs.rules, lists).version != v


def test_toml_round_trip_of_awkward_strings() -> None:
    rule = Rule("ODD", "s == 'a\"b\\\\c\\n\\t\u00e9\u2603\U0001f600\x7f'", reason='quote " backslash \\ {s}',
                description="tab\tand\nnewline \x01")
    rs = RuleSet([rule], lists={"weird": ["\x00", "\u2028", "é", 1.5, -3]})
    back = RuleSet.from_toml(rs.to_toml())
    assert back.version == rs.version and back.rules[0] == rule


def test_compile_time_errors(rs: RuleSet) -> None:
    with pytest.raises(RuleSyntaxError, match="unknown name 'amount'; did you mean 'amount_'") as info:
        rs.compile([n for n in NAMES if n != "amount"] + ["amount_"])
    assert info.value.code in ("VIP", "RISKY_PRODUCT", "SHADOW_BIG")
    with pytest.raises(RuleSyntaxError, match="identifier field 'product'") as info:
        rs.compile(NAMES, identifier_names=["product"])
    assert info.value.code == "RISKY_PRODUCT"
    bad = RuleSet([Rule("R", "amount > 1", reason="{amnt} is big")])
    with pytest.raises(RuleSyntaxError, match="did you mean 'amount'"):
        bad.compile(["amount"])
    with pytest.raises(ConfigError, match="not a single string"):
        bad.compile("amount")  # type: ignore[arg-type]


def test_toml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        RuleSet.from_toml("[[rules]\ncode=1")
    with pytest.raises(ConfigError, match="Unknown key 'wehn'.*did you mean 'when'"):
        RuleSet.from_toml('[[rules]]\ncode = "A"\nwehn = "a > 1"\n')
    with pytest.raises(ConfigError, match="missing required key"):
        RuleSet.from_toml('[[rules]]\ncode = "A"\n')
    with pytest.raises(ConfigError, match="Duplicate rule code 'A'"):
        RuleSet.from_toml('[[rules]]\ncode = "A"\nwhen = "a"\n[[rules]]\ncode = "A"\nwhen = "b"\n')
    with pytest.raises(ConfigError, match="Cannot read list file"):
        RuleSet.from_toml('[lists.x]\nfile = "nope.txt"\n', lists_dir=tmp_path)
    with pytest.raises(ConfigError, match="exactly one of 'values' or 'file'"):
        RuleSet.from_toml('[lists.x]\nkind = "ip"\n')
    with pytest.raises(ConfigError, match="Cannot read rule file"):
        RuleSet.from_toml(tmp_path / "missing.toml")
    with pytest.raises(RuleSyntaxError, match=r"rule 'A': invalid syntax.*\n    a >\n       \^"):
        RuleSet.from_toml('[[rules]]\ncode = "A"\nwhen = "a >"\n')
    with pytest.raises(ConfigError, match="Unknown top-level"):
        RuleSet.from_toml('version = 3\n')


def test_lists_dir_and_python_lists(tmp_path: Path) -> None:
    (tmp_path / "phones.txt").write_text("+8613800000000\n")
    rs = RuleSet.from_toml('[lists.bad_phones]\nkind = "phone"\nfile = "phones.txt"\n'
                           '[[rules]]\ncode = "PHONE_BAD"\nwhen = "phone in @bad_phones"\naction = "decline"\n',
                           lists_dir=tmp_path)
    crs = rs.compile(["phone"], list_transform=lambda kind, v: f"{kind}:{v[-4:]}")
    assert crs.evaluate({"phone": "phone:0000"})[0].code == "PHONE_BAD"
    rs2 = RuleSet(rs.rules, lists={"bad_phones": {"values": ["+8613800000000"], "kind": "phone"}})
    assert rs2.version == rs.version
    with pytest.raises(ConfigError, match="strings or numbers"):
        NamedList("x", [[1]])  # type: ignore[list-item]


def test_evaluate_columns_matches_and_renders(rs: RuleSet) -> None:
    crs = rs.compile(NAMES, list_transform=pseudo)
    cols = {
        "distinct__applicant_id__by__device_id__24h": np.array([4.0, np.nan, 1.0, 3.0]),
        "ip": np.array([pseudo("ip", "192.0.2.1"), None, "x", None], dtype=object),
        "product": np.array(["vip", "cash_fast", None, "vip"], dtype=object),
        "amount": np.array([500.0, 60000.0, np.nan, 10.0]),
    }
    m = crs.evaluate_columns(cols, 4)
    assert m.codes == crs.codes and m.matrix.shape == (4, 5)
    assert m.actions().tolist() == ["decline", None, None, "review"]
    assert [ACTION_CODES[c] for c in m.action_codes()] == m.actions().tolist()
    assert m.points.tolist() == [0 + 150 - 100, 40, 0, 150 - 100]
    assert m.hits_for_row(1, cols) == [RuleHit("RISKY_PRODUCT", "tag", 40, "risky product cash_fast, amount 60000",
                                               False, 0),
                                       RuleHit("SHADOW_BIG", "decline", 500, "", True, 0)]
    assert crs.evaluate_columns({}, 3).matrix.sum() == 0  # absent columns are missing
    with pytest.raises(ConfigError, match="one-dimensional with 3 rows"):
        crs.evaluate_columns({"amount": np.zeros(2)}, 3)


def test_column_types_accepted() -> None:
    crs = RuleSet([Rule("A", "flag and n >= 2 and s == 'x'")]).compile(["flag", "n", "s"])
    cols = {"flag": np.array([True, True, False]), "n": np.array([2, 3, 4]), "s": np.array(["x", "x", "x"])}
    assert crs.evaluate_columns(cols, 3).matrix[:, 0].tolist() == [True, True, False]
    assert crs.evaluate_columns({k: list(v) for k, v in cols.items()}, 3).matrix[:, 0].tolist() == [True, True, False]
    assert [bool(crs.evaluate({"flag": f, "n": n, "s": "x"})) for f, n in [(True, 2), (np.bool_(True), np.int64(3)),
                                                                            (False, 4)]] == [True, True, False]


def test_empty_batches_and_empty_rule_sets() -> None:
    crs = RuleSet([Rule("A", "s == 'x' or n > 1", score=5)]).compile(["s", "n"])
    m = crs.evaluate_columns({"s": np.array([], dtype=object), "n": np.array([])}, 0)
    assert m.matrix.shape == (0, 1) and m.points.shape == (0,) and m.actions().shape == (0,)
    empty = RuleSet([]).compile([])
    assert empty.evaluate({"x": 1.0}) == [] and combine(empty.evaluate({})) == (None, 0)
    m0 = empty.evaluate_columns({}, 4)
    assert m0.matrix.shape == (4, 0) and m0.points.tolist() == [0, 0, 0, 0] and m0.actions().tolist() == [None] * 4
    assert RuleSet.from_toml("").version == RuleSet([]).version


def test_lists_supplied_by_the_caller_and_rule_alias() -> None:
    toml = ('[lists.deny]\nkind = "ip"\nfile = "deny_ip.txt"\n'
            '[[rule]]\ncode = "DENY"\nwhen = "ip in @deny or phone in @extra"\naction = "decline"\n')
    rs = RuleSet.from_toml(toml, lists={"deny_ip": "192.0.2.1\n\n# c\n", "extra": ["+861"], "bad.name": "x"})
    assert rs.lists["deny"].values == ("192.0.2.1",) and rs.lists["deny"].kind == "ip"
    assert rs.lists["extra"].values == ("+861",) and rs.lists["extra"].kind is None
    assert set(rs.lists) == {"deny", "extra"}
    crs = rs.compile(["ip", "phone"], list_transform=pseudo)
    assert crs.evaluate({"ip": pseudo("ip", "192.0.2.1")})[0].code == "DENY"
    assert crs.evaluate({"phone": "+861"})[0].code == "DENY"
    actions, points = crs.evaluate_columns({"ip": np.array([None, pseudo("ip", "192.0.2.1")], dtype=object)},
                                           2).combine()
    assert actions.tolist() == [None, "decline"] and points.tolist() == [0, 0]
    with pytest.raises(ConfigError, match="not both"):
        RuleSet.from_toml('[[rule]]\ncode = "A"\nwhen = "a"\n[[rules]]\ncode = "B"\nwhen = "b"\n')
