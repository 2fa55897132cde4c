"""Validate LightGBM model text in Python before LightGBM parses it.

LightGBM's C++ loader trusts its input: tree offsets from ``tree_sizes`` are
pointer arithmetic, child and feature indices are array indices, and a bad value
can crash or hang the whole process rather than raise. :func:`check_model_text`
reads the text the way LightGBM does and refuses, with a
:class:`~fraudscore.errors.BundleError` naming the line, anything that is not a
well-formed binary-classification model:

* the header: ``tree``, then ``version`` (v3/v4), ``num_class=1``,
  ``num_tree_per_iteration=1``, ``label_index=0``, ``max_feature_idx``, a binary
  ``objective``, as many ``feature_names`` and ``feature_infos`` as features,
  ``tree_sizes`` equal to the byte size of every tree block; unknown keys refused;
* every tree: ``Tree=<i>`` in order, ``num_leaves`` within
  :data:`~fraudscore.limits.MAX_TREE_LEAVES`, every array of the right length,
  integers and numbers only (finite, bar infinite thresholds), split features below ``max_feature_idx + 1``,
  ``decision_type`` values LightGBM can write, categorical splits with valid
  ``cat_boundaries`` / ``cat_threshold``, children forming one tree (each node
  and leaf reached exactly once from the root, so no cycle), no linear trees;
* the tail: ``end of trees``, feature importances, the parameters block and a
  ``pandas_categorical`` line of plain JSON.

Examples
--------
>>> import lightgbm as lgb
>>> X = np.arange(60.0).reshape(30, 2); y = np.arange(30) % 2
>>> text = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2},
...                  lgb.Dataset(X, y, feature_name=["x1", "x2"]), 3).model_to_string()
>>> info = check_model_text(text)
>>> info.num_trees, info.feature_names
(3, ['x1', 'x2'])
>>> check_model_text(text.replace("max_feature_idx=1", "max_feature_idx=0"))
Traceback (most recent call last):
...
fraudscore.errors.BundleError: model.txt line 8: feature_names has 2 values, expected 1
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from ..errors import BundleError
from ..limits import MAX_MODEL_FEATURES, MAX_MODEL_TREES, MAX_TREE_LEAVES

__all__ = ["check_model_text", "ModelTextInfo"]

_HEADER_KEYS = {"version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective",
                "feature_names", "feature_infos", "tree_sizes", "monotone_constraints", "average_output"}
_OBJECTIVES = {"binary", "cross_entropy", "xentropy", "cross_entropy_lambda", "xentlambda"}
_TREE_KEYS = {"num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type", "left_child",
              "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value", "internal_weight",
              "internal_count", "cat_boundaries", "cat_threshold", "is_linear", "shrinkage", "leaf_parent"}
_INT_RE = re.compile(r"-?\d{1,10}")
_NAME_RE = re.compile(r"[^\s=\[\]{}\",:\\]{1,256}")
_INFO_RE = re.compile(r"none|\[[-+0-9.eEinfINFa]{1,40}:[-+0-9.eEinfINFa]{1,40}\]|-?\d{1,10}(?::-?\d{1,10}){0,100000}")
_PARAM_RE = re.compile(r"\[[a-z0-9_]{1,64}: [^\n\"\\]{0,4096}\]")
_IMPORTANCE_RE = re.compile(r"[^\s=]{1,256}=\d{1,12}")
_MAX_LINE = 50_000_000


@dataclass(frozen=True)
class ModelTextInfo:
    """What :func:`check_model_text` found."""

    num_trees: int
    num_features: int
    feature_names: list[str]
    max_leaves: int


class _Err:
    def __init__(self, lines: list[str], name: str = "model.txt") -> None:
        self.lines = lines
        self.name = name

    def __call__(self, i: int, msg: str) -> BundleError:
        return BundleError(f"{self.name} line {i + 1}: {msg}")


def _ints(err: _Err, i: int, key: str, text: str, n: int, lo: int, hi: int) -> list[int]:
    parts = text.split(" ") if text else []
    if len(parts) != n:
        raise err(i, f"{key} has {len(parts)} values, expected {n}")
    out = []
    for p in parts:
        if not _INT_RE.fullmatch(p):
            raise err(i, f"{key} holds a value that is not an integer")
        v = int(p)
        if not lo <= v <= hi:
            raise err(i, f"{key} holds a value out of range [{lo}, {hi}]")
        out.append(v)
    return out


def _floats(err: _Err, i: int, key: str, text: str, n: int | tuple[int, ...], *, inf_ok: bool = False) -> list[float]:
    parts = text.split(" ") if text else []
    allowed = (n,) if isinstance(n, int) else n
    if len(parts) not in allowed:
        raise err(i, f"{key} has {len(parts)} values, expected {allowed[0]}")
    out = []
    for p in parts:
        if len(p) > 40:
            raise err(i, f"{key} holds an over-long number")
        try:
            v = float(p)
        except ValueError:
            raise err(i, f"{key} holds a value that is not a number") from None
        if math.isnan(v) or (math.isinf(v) and not inf_ok):
            raise err(i, f"{key} holds a value that is not {'a number' if inf_ok else 'finite'}")
        out.append(v)
    return out


def _key_values(err: _Err, lines: list[str], start: int, allowed: set[str], what: str
                ) -> tuple[dict[str, tuple[int, str]], int]:
    """Lines ``key=value`` from ``start`` up to the first blank line; returns them and the blank line's index."""
    out: dict[str, tuple[int, str]] = {}
    i = start
    while i < len(lines) and lines[i] != "":
        line = lines[i]
        key, eq, value = line.partition("=")
        if not eq:
            if line == "average_output" and "average_output" in allowed:
                out[line] = (i, "")
                i += 1
                continue
            raise err(i, f"expected key=value in the {what}")
        if key not in allowed:
            raise err(i, f"unknown key in the {what}")
        if key in out:
            raise err(i, f"{key} appears twice in the {what}")
        out[key] = (i, value)
        i += 1
    return out, i


def _need(err: _Err, kv: dict[str, tuple[int, str]], key: str, at: int, what: str) -> tuple[int, str]:
    if key not in kv:
        raise err(at, f"the {what} has no {key}")
    return kv[key]


def _one_int(err: _Err, kv: dict[str, tuple[int, str]], key: str, at: int, what: str, lo: int, hi: int) -> int:
    i, v = _need(err, kv, key, at, what)
    return _ints(err, i, key, v, 1, lo, hi)[0]


def _check_tree(err: _Err, kv: dict[str, tuple[int, str]], at: int, n_features: int) -> int:
    what = "tree"
    leaves = _one_int(err, kv, "num_leaves", at, what, 1, MAX_TREE_LEAVES)
    num_cat = _one_int(err, kv, "num_cat", at, what, 0, MAX_TREE_LEAVES) if "num_cat" in kv else 0
    if "is_linear" in kv and _one_int(err, kv, "is_linear", at, what, 0, 1) != 0:
        raise err(kv["is_linear"][0], "linear trees are not supported")
    if "shrinkage" in kv:
        _floats(err, kv["shrinkage"][0], "shrinkage", kv["shrinkage"][1], 1)
    i, v = _need(err, kv, "leaf_value", at, what)
    _floats(err, i, "leaf_value", v, leaves)
    inner = leaves - 1
    for key in ("split_gain", "internal_value", "internal_weight"):
        if key in kv:
            _floats(err, kv[key][0], key, kv[key][1], inner, inf_ok=key == "split_gain")
    if "leaf_weight" in kv:
        _floats(err, kv["leaf_weight"][0], "leaf_weight", kv["leaf_weight"][1], (leaves, 0) if leaves == 1 else leaves)
    if "leaf_count" in kv:
        _ints(err, kv["leaf_count"][0], "leaf_count", kv["leaf_count"][1], leaves, 0, 2**31 - 1)
    if "internal_count" in kv:
        _ints(err, kv["internal_count"][0], "internal_count", kv["internal_count"][1], inner, 0, 2**31 - 1)
    if "leaf_parent" in kv:
        _ints(err, kv["leaf_parent"][0], "leaf_parent", kv["leaf_parent"][1], leaves, -1, max(inner - 1, -1))
    if leaves == 1:
        for key in ("split_feature", "threshold", "decision_type", "left_child", "right_child"):
            if key in kv and kv[key][1]:
                raise err(kv[key][0], f"{key} must be empty in a tree with one leaf")
        if num_cat:
            raise err(at, "a tree with one leaf has no categorical splits")
        return leaves
    i, v = _need(err, kv, "split_feature", at, what)
    _ints(err, i, "split_feature", v, inner, 0, n_features - 1)
    i, v = _need(err, kv, "threshold", at, what)
    thresholds = _floats(err, i, "threshold", v, inner, inf_ok=True)  # LightGBM writes inf thresholds
    i, v = _need(err, kv, "decision_type", at, what)
    dtypes = _ints(err, i, "decision_type", v, inner, 0, 15)
    for d in dtypes:
        if (d >> 2) & 3 == 3:
            raise err(i, "decision_type holds an unknown missing-value type")
    categorical = [j for j, d in enumerate(dtypes) if d & 1]
    if categorical:
        if num_cat < 1:
            raise err(i, "a categorical split needs num_cat > 0")
        for j in categorical:
            t = thresholds[j]
            if not t.is_integer() or not 0 <= t < num_cat:
                raise err(kv["threshold"][0], "a categorical split's threshold must index cat_boundaries")
    if num_cat:
        ib, vb = _need(err, kv, "cat_boundaries", at, what)
        bounds = _ints(err, ib, "cat_boundaries", vb, num_cat + 1, 0, 2**31 - 1)
        if bounds[0] != 0 or any(b >= c for b, c in zip(bounds, bounds[1:])):
            raise err(ib, "cat_boundaries must start at 0 and increase")
        it, vt = _need(err, kv, "cat_threshold", at, what)
        _ints(err, it, "cat_threshold", vt, bounds[-1], 0, 2**32 - 1)
    elif "cat_threshold" in kv and kv["cat_threshold"][1]:
        raise err(kv["cat_threshold"][0], "cat_threshold must be empty without categorical splits")
    il, vl = _need(err, kv, "left_child", at, what)
    left = _ints(err, il, "left_child", vl, inner, -leaves, inner - 1)
    ir, vr = _need(err, kv, "right_child", at, what)
    right = _ints(err, ir, "right_child", vr, inner, -leaves, inner - 1)
    # one tree: from the root, every internal node and every leaf is reached exactly once
    seen_nodes = bytearray(inner)
    seen_leaves = bytearray(leaves)
    stack = [0]
    seen_nodes[0] = 1
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0:
                if seen_nodes[child]:
                    raise err(il, "left_child / right_child do not form a tree (a node is reached twice)")
                seen_nodes[child] = 1
                stack.append(child)
            else:
                leaf = ~child
                if seen_leaves[leaf]:
                    raise err(il, "left_child / right_child do not form a tree (a leaf is reached twice)")
                seen_leaves[leaf] = 1
    if not all(seen_nodes) or not all(seen_leaves):
        raise err(il, "left_child / right_child do not form a tree (a node or leaf is unreachable)")
    return leaves


def _check_pandas_categorical(err: _Err, i: int, text: str) -> None:
    if len(text) > 1_000_000:
        raise err(i, "pandas_categorical is too long")
    try:
        value = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError):
        raise err(i, "pandas_categorical is not valid JSON") from None
    if value is None:
        return
    ok = isinstance(value, list) and all(
        isinstance(cats, list) and all(isinstance(c, (str, int, float, bool)) for c in cats) for cats in value)
    if not ok:
        raise err(i, "pandas_categorical must be null or a list of lists of categories")


def check_model_text(text: str, name: str = "model.txt") -> ModelTextInfo:
    """Check LightGBM model text (see the module docstring); return a summary or raise BundleError.

    ``name`` is the bundle file the text came from, for the error messages.
    """
    if not isinstance(text, str):
        raise BundleError(f"{name} must be text")
    if not text.isascii() or "\x00" in text or "\r" in text:
        raise BundleError(f"{name} must be plain ASCII text with \\n line ends")
    lines = text.split("\n")
    err = _Err(lines, name)
    if any(len(line) > _MAX_LINE for line in lines):
        raise BundleError(f"{name} has an over-long line")
    if not lines or lines[0] != "tree":
        raise err(0, "a LightGBM model starts with the line 'tree'")
    header, end = _key_values(err, lines, 1, _HEADER_KEYS, "header")
    what = "header"
    version = _need(err, header, "version", end, what)
    if version[1] not in ("v3", "v4"):
        raise err(version[0], "unsupported model version (v3 or v4 expected)")
    for key, want in (("num_class", 1), ("num_tree_per_iteration", 1), ("label_index", 0)):
        if _one_int(err, header, key, end, what, 0, 1 << 30) != want:
            raise err(header[key][0], f"{key} must be {want} for a binary model")
    n_features = _one_int(err, header, "max_feature_idx", end, what, 0, MAX_MODEL_FEATURES - 1) + 1
    io, obj = _need(err, header, "objective", end, what)
    if obj.split(" ", 1)[0] not in _OBJECTIVES:
        raise err(io, "the objective is not a binary-classification objective")
    if len(obj) > 256 or not all(re.fullmatch(r"[A-Za-z0-9_.:+-]{1,64}", t) for t in obj.split(" ")):
        raise err(io, "objective holds unexpected text")
    i, v = _need(err, header, "feature_names", end, what)
    names = v.split(" ") if v else []
    if len(names) != n_features:
        raise err(i, f"feature_names has {len(names)} values, expected {n_features}")
    if not all(_NAME_RE.fullmatch(n) for n in names):
        raise err(i, "feature_names holds an unexpected name")
    if "feature_infos" in header:
        i, v = header["feature_infos"]
        infos = v.split(" ") if v else []
        if len(infos) != n_features or not all(_INFO_RE.fullmatch(t) for t in infos):
            raise err(i, "feature_infos must hold one valid entry per feature")
    if "monotone_constraints" in header:
        i, v = header["monotone_constraints"]
        _ints(err, i, "monotone_constraints", v, n_features, -1, 1)
    # trees
    i = end
    while i < len(lines) and lines[i] == "":
        i += 1
    starts: list[int] = []
    offsets: list[int] = []
    max_leaves = 0
    pos = sum(len(line) + 1 for line in lines[:i])
    while i < len(lines) and lines[i].startswith("Tree="):
        if len(starts) >= MAX_MODEL_TREES:
            raise err(i, f"more than {MAX_MODEL_TREES} trees")
        if lines[i] != f"Tree={len(starts)}":
            raise err(i, f"expected Tree={len(starts)}")
        starts.append(i)
        offsets.append(pos)
        kv, j = _key_values(err, lines, i + 1, _TREE_KEYS, "tree")
        max_leaves = max(max_leaves, _check_tree(err, kv, i, n_features))
        pos += sum(len(line) + 1 for line in lines[i:j])
        i = j
        while i < len(lines) and lines[i] == "":
            pos += 1
            i += 1
    if not starts:
        raise err(i if i < len(lines) else len(lines) - 1, "the model has no trees")
    if i >= len(lines) or lines[i] != "end of trees":
        raise err(min(i, len(lines) - 1), "expected 'end of trees'")
    offsets.append(pos)
    if "tree_sizes" in header:
        it, vt = header["tree_sizes"]
        sizes = _ints(err, it, "tree_sizes", vt, len(starts), 1, 2**31 - 1)
        if sizes != [b - a for a, b in zip(offsets, offsets[1:])]:
            raise err(it, "tree_sizes do not match the trees")
    # the tail: feature importances, parameters, pandas_categorical
    i += 1
    while i < len(lines) and lines[i] == "":
        i += 1
    if i < len(lines) and lines[i] == "feature_importances:":
        i += 1
        while i < len(lines) and lines[i] != "":
            if not _IMPORTANCE_RE.fullmatch(lines[i]):
                raise err(i, "unexpected line among the feature importances")
            i += 1
        while i < len(lines) and lines[i] == "":
            i += 1
    if i < len(lines) and lines[i] == "parameters:":
        i += 1
        while i < len(lines) and lines[i] != "end of parameters":
            if lines[i] and not _PARAM_RE.fullmatch(lines[i]):
                raise err(i, "unexpected line among the parameters")
            i += 1
        if i >= len(lines):
            raise err(len(lines) - 1, "expected 'end of parameters'")
        i += 1
        while i < len(lines) and lines[i] == "":
            i += 1
    if i < len(lines) and lines[i].startswith("pandas_categorical:"):
        _check_pandas_categorical(err, i, lines[i][len("pandas_categorical:"):])
        i += 1
    while i < len(lines) and lines[i] == "":
        i += 1
    if i < len(lines):
        raise err(i, "unexpected text after the model")
    return ModelTextInfo(len(starts), n_features, names, max_leaves)
