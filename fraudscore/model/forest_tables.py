"""LightGBM text model -> flat node tables: the data the compiled forest (:mod:`.compiled`) evaluates.

:func:`forest_tables` parses a binary LightGBM model's text into :class:`ForestTables`
(internal nodes, leaf values, roots, categorical bitsets and, for TreeSHAP, the node
covers); :meth:`ForestTables.sha256` is what a bundle manifest records.
:func:`probe_rows` builds rows that exercise every split, for the load-time check.

Examples
--------
>>> import lightgbm as lgb
>>> X = np.arange(80.0).reshape(40, 2); y = np.arange(40) % 2
>>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y), 3)
>>> forest_tables(b.model_to_string()).n_trees
3
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from ..errors import ConfigError

__all__ = ["ForestTables", "forest_tables", "probe_rows", "ENGINE", "TABLES_VERSION", "NODE_DTYPE"]

ENGINE = "fraudscore-forest"
"""Name of the engine recorded in a bundle manifest."""
TABLES_VERSION = 1
"""Layout version of :class:`ForestTables` (part of their recorded sha256)."""
NODE_DTYPE = np.dtype({"names": ["threshold", "cat_start", "cat_n", "left", "right", "feature", "decision_type"],
                       "formats": ["<f8", "<i4", "<i4", "<i4", "<i4", "<i4", "<u4"],
                       "offsets": [0, 0, 4, 8, 12, 16, 20], "itemsize": 24})
"""Layout of one internal node (``fs_node`` in ``_forest.c``); ``cat_start``/``cat_n`` overlay ``threshold``."""


# -- model text -> flat tables ---------------------------------------------------------------------------
class ForestTables:
    """Flat node tables of a binary LightGBM model (the data :class:`CompiledForest` evaluates).

    Attributes
    ----------
    nodes : numpy.ndarray
        Internal nodes (:data:`NODE_DTYPE`), all trees, children as global indices
        (``>= 0``) or ``~leaf`` (``< 0``).
    leaves : numpy.ndarray
        ``float64`` leaf values, all trees.
    roots : numpy.ndarray
        ``int32`` per tree: its root node, or ``~leaf`` for a one-leaf tree.
    cat_bits : numpy.ndarray
        ``uint32`` categorical bitsets, all trees.
    num_features : int
        Values per row.
    sigmoid : float
        The binary objective's sigmoid parameter.
    node_count : numpy.ndarray or None
        ``float64`` cover of every internal node (LightGBM's ``internal_count``), for TreeSHAP; ``None``
        when the model text lacks it.
    leaf_count : numpy.ndarray or None
        ``float64`` cover of every leaf (``leaf_count``).
    leaf_start : numpy.ndarray or None
        ``int32`` per tree and one more: where the tree's leaves start in :attr:`leaves`.

    The covers serve explanations only and are not part of :meth:`sha256` (the
    recorded hash covers what predictions read; the covers come from the same
    integrity-checked ``model.txt``).
    """

    def __init__(self, nodes: np.ndarray, leaves: np.ndarray, roots: np.ndarray, cat_bits: np.ndarray,
                 num_features: int, sigmoid: float, *, node_count: np.ndarray | None = None,
                 leaf_count: np.ndarray | None = None, leaf_start: np.ndarray | None = None) -> None:
        self.nodes, self.leaves, self.roots, self.cat_bits = nodes, leaves, roots, cat_bits
        self.num_features, self.sigmoid = int(num_features), float(sigmoid)
        self.node_count, self.leaf_count, self.leaf_start = node_count, leaf_count, leaf_start

    @property
    def has_covers(self) -> bool:
        """Whether the node covers TreeSHAP needs are present."""
        return self.node_count is not None and self.leaf_count is not None and self.leaf_start is not None

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.roots.shape[0])

    def sha256(self) -> str:
        """Hex sha256 of the tables (what a bundle manifest records)."""
        h = hashlib.sha256()
        h.update(f"{ENGINE} tables v{TABLES_VERSION} k={self.num_features} sigmoid={self.sigmoid!r}\n".encode())
        for a in (self.nodes, self.leaves, self.roots, self.cat_bits):
            h.update(str(a.shape[0]).encode() + b"\0")
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def _ints(s: str) -> list[int]:
    return [int(v) for v in s.split()] if s.strip() else []


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split()] if s.strip() else []


def forest_tables(model_text: str) -> ForestTables:
    """Parse a LightGBM text model into :class:`ForestTables`.

    Raises
    ------
    ConfigError
        For a model the compiled engine does not evaluate: not a binary
        objective, several trees per iteration, linear trees, random-forest
        averaging, or inconsistent tree arrays.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = np.arange(80.0).reshape(40, 2); y = np.arange(40) % 2
    >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y), 3)
    >>> t = forest_tables(b.model_to_string())
    >>> t.n_trees, t.num_features, t.sigmoid
    (3, 2, 1.0)
    """
    head, _, body = model_text.partition("\nTree=")
    header = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    objective = header.get("objective", "").split()
    if not objective or objective[0] != "binary":
        raise ConfigError(f"compiled trees need a binary LightGBM model. Got objective {header.get('objective')!r} "
                          "instead.")
    sigmoid = 1.0
    for part in objective[1:]:
        if part.startswith("sigmoid:"):
            sigmoid = float(part.split(":", 1)[1])
    if int(header.get("num_class", "1")) != 1 or int(header.get("num_tree_per_iteration", "1")) != 1:
        raise ConfigError("compiled trees need one tree per iteration (a binary model).")
    if "average_output" in head.split("\nfeature_names", 1)[0].splitlines():
        raise ConfigError("compiled trees do not evaluate random-forest (averaged) models.")
    k = int(header["max_feature_idx"]) + 1
    blocks = re.split(r"\nTree=\d+\n", "\nTree=" + body.split("\nend of trees", 1)[0])
    nodes: list[np.ndarray] = []
    leaves: list[np.ndarray] = []
    roots: list[int] = []
    cats: list[np.ndarray] = []
    n_nodes = n_leaves = n_cat = 0
    node_counts: list[np.ndarray] = []
    leaf_counts: list[np.ndarray] = []
    leaf_starts: list[int] = [0]
    covers = True
    for block in blocks:
        if not block.strip():
            continue
        f = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if int(f.get("is_linear", "0")):
            raise ConfigError("compiled trees do not evaluate linear trees (linear_tree=true).")
        nl = int(f["num_leaves"])
        lv = np.array(_floats(f["leaf_value"]), dtype=np.float64)
        if lv.shape[0] != nl or nl < 1:
            raise ConfigError("compiled trees: a tree's leaf_value does not hold num_leaves values.")
        if nl == 1:
            roots.append(~n_leaves)
        else:
            m = nl - 1
            feat = np.array(_ints(f["split_feature"]), dtype=np.int64)
            thr = np.array(_floats(f["threshold"]), dtype=np.float64)
            dt = np.array(_ints(f["decision_type"]), dtype=np.int64)
            left = np.array(_ints(f["left_child"]), dtype=np.int64)
            right = np.array(_ints(f["right_child"]), dtype=np.int64)
            if not all(a.shape[0] == m for a in (feat, thr, dt, left, right)):
                raise ConfigError("compiled trees: a tree's split arrays do not hold num_leaves - 1 values.")
            idx = np.arange(m)
            for c in (left, right):
                internal = c >= 0
                if np.any(c[internal] <= idx[internal]) or np.any(c[internal] >= m) or np.any(~c[~internal] >= nl):
                    raise ConfigError("compiled trees: a tree's child indices are out of order or out of range.")
            if np.any(feat < 0) or np.any(feat >= k):
                raise ConfigError("compiled trees: a split feature index is out of range.")
            arr = np.zeros(m, dtype=NODE_DTYPE)
            arr["feature"] = feat
            arr["decision_type"] = dt
            arr["left"] = np.where(left >= 0, left + n_nodes, ~(~left + n_leaves))
            arr["right"] = np.where(right >= 0, right + n_nodes, ~(~right + n_leaves))
            is_cat = (dt & 1) == 1
            arr["threshold"] = np.where(is_cat, 0.0, thr)
            if is_cat.any():
                bounds = np.array(_ints(f["cat_boundaries"]), dtype=np.int64)
                words = np.array(_ints(f["cat_threshold"]), dtype=np.uint64)
                if np.any(words >= 2**32):
                    raise ConfigError("compiled trees: a categorical bitset word is out of range.")
                ci = thr[is_cat].astype(np.int64)
                if np.any(ci < 0) or np.any(ci + 1 >= bounds.shape[0]) or bounds[-1] != words.shape[0]:
                    raise ConfigError("compiled trees: a categorical split points outside cat_boundaries.")
                starts, ends = bounds[ci], bounds[ci + 1]
                arr["cat_start"][is_cat] = starts + n_cat
                arr["cat_n"][is_cat] = ends - starts
                cats.append(words.astype(np.uint32))
                n_cat += words.shape[0]
            roots.append(n_nodes)
            nodes.append(arr)
            n_nodes += m
        if covers:
            covers = _covers(f, nl, node_counts, leaf_counts)
        leaves.append(lv)
        n_leaves += nl
        leaf_starts.append(n_leaves)
    if not roots:
        raise ConfigError("compiled trees: the model has no trees.")
    all_nodes = np.zeros(n_nodes, dtype=NODE_DTYPE)  # (np.concatenate would re-lay-out the overlapping fields)
    pos = 0
    for arr in nodes:
        all_nodes[pos: pos + arr.shape[0]] = arr
        pos += arr.shape[0]
    return ForestTables(
        all_nodes,
        np.concatenate(leaves),
        np.array(roots, dtype=np.int32),
        np.concatenate(cats) if cats else np.zeros(0, dtype=np.uint32),
        k,
        sigmoid,
        node_count=(np.concatenate(node_counts) if node_counts else np.zeros(0)) if covers else None,
        leaf_count=np.concatenate(leaf_counts) if covers else None,
        leaf_start=np.array(leaf_starts, dtype=np.int32) if covers else None,
    )


def _covers(f: dict[str, str], nl: int, node_counts: list[np.ndarray], leaf_counts: list[np.ndarray]) -> bool:
    """Append one tree's covers (``internal_count``, ``leaf_count``); False when absent or not positive."""
    if nl == 1:  # a one-leaf tree's expected value is its leaf value: no cover needed
        leaf_counts.append(np.ones(1))
        return True
    try:
        lc = np.array(_ints(f["leaf_count"]), dtype=np.float64)
        ic = np.array(_ints(f["internal_count"]), dtype=np.float64)
    except (KeyError, ValueError):
        return False
    if lc.shape[0] != nl or ic.shape[0] != nl - 1 or np.any(lc <= 0) or np.any(ic <= 0):
        return False
    leaf_counts.append(lc)
    node_counts.append(ic)
    return True




def probe_rows(tables: ForestTables, n: int = 256, seed: int = 0) -> np.ndarray:
    """Rows that exercise every split: each feature at, just below and just above its thresholds, zero,
    ``±1e-35``, negative and NaN (deterministic for a model).

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = np.arange(80.0).reshape(40, 2); y = np.arange(40) % 2
    >>> b = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, y), 3)
    >>> probe_rows(forest_tables(b.model_to_string()), n=8).shape
    (8, 2)
    """
    rng = np.random.default_rng(seed)
    k = tables.num_features
    special = np.array([0.0, -0.0, np.nan, 1e-35, -1e-35, 1e-300, -1.0, 1.0, 1e300, -1e300, 0.5, 2.0, 31.0, 32.0,
                        33.0, 64.5])
    pools: list[np.ndarray] = [special.copy() for _ in range(k)]
    num = (tables.nodes["decision_type"] & 1) == 0
    for j in range(k):
        t = tables.nodes["threshold"][num & (tables.nodes["feature"] == j)]
        if t.size:
            t = t[rng.permutation(t.size)[:64]]
            pools[j] = np.concatenate([pools[j], t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)])
    X = np.empty((n, k), dtype=np.float64)
    for j in range(k):
        X[:, j] = rng.choice(pools[j], size=n)
    return X
