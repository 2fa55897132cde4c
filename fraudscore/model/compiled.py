"""Compiled trees: a LightGBM forest evaluated by a small C extension, bit-identical to LightGBM.

:class:`CompiledForest` packs the trees of a binary LightGBM model (read from its
text format) into flat node tables and evaluates them in C: one call through
the CPython C API per row (no ctypes), or a whole matrix with the GIL released
and one thread per core. The C source (``_forest.c``, shipped with the
package) mirrors LightGBM's own prediction code: the same decision rules for
numerical splits (missing types *None*, *Zero* and *NaN*, default directions),
categorical bitsets, the zeroing of values within ``1e-35`` of zero, the
tree-by-tree summation order and the sigmoid, so its probabilities and raw
margins equal ``Booster.predict`` bit for bit (tested with hypothesis, and
re-checked on every load on probe rows built from the model's thresholds).

Native code is never read from a bundle. The extension is compiled on first
use with the machine's C compiler (``$CC``, else ``gcc``, else ``cc``; Python
headers needed) into a per-user cache directory keyed by the sha256 of the C
source, the compiler and the Python ABI (``$FRAUDSCORE_CACHE_DIR``, else
``$XDG_CACHE_HOME/fraudscore``, else ``~/.cache/fraudscore``), and loaded from
there; one build serves every model. The node tables are data, rebuilt from
``model.txt`` on load; a bundle records their sha256 (see ``docs/model.md``).

The same extension explains: :meth:`CompiledForest.contributions` is an exact
TreeSHAP over the node tables and the node covers of ``model.txt``
(``_forest_shap.h``): the classic algorithm as LightGBM writes it (equal to
``pred_contrib`` bit for bit) and FastTreeSHAP v2 tables built at load within
a memory budget (:data:`SHAP_TABLES_MB`; equal to rounding, several times faster).

Examples
--------
>>> import lightgbm as lgb
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 4)); X[rng.random(X.shape) < 0.1] = np.nan
>>> y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
>>> booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
>>> forest = CompiledForest.from_booster(booster)      # doctest: +SKIP
>>> forest.predict_one(X[0]) == float(booster.predict(X[:1])[0])   # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, FraudscoreError

__all__ = ["CompiledForest", "ForestTables", "CompileError", "forest_tables", "build_extension", "cache_dir",
           "compiled_available", "probe_rows", "ENGINE", "TABLES_VERSION", "DISABLE_ENV", "NODE_DTYPE",
           "SHAP_TABLES_MB", "SHAP_TABLES_ENV", "SHAP_TOLERANCE"]

ENGINE = "fraudscore-forest"
"""Name of the engine recorded in a bundle manifest."""
TABLES_VERSION = 1
"""Layout version of :class:`ForestTables` (part of their recorded sha256)."""
DISABLE_ENV = "FRAUDSCORE_NO_COMPILED"
"""Set to ``1`` to never build or load compiled trees (the C fast path is used instead)."""
_SOURCE = Path(__file__).with_name("_forest.c")
_SHAP_SOURCE = Path(__file__).with_name("_forest_shap.h")  # included by _forest.c
_BEST_SOURCE = Path(__file__).with_name("_forest_best.h")  # included by _forest.c
_CFLAGS = ("-O2", "-fPIC", "-shared", "-pthread", "-fno-fast-math", "-ffp-contract=off", "-fno-strict-aliasing",
           "-fvisibility=hidden")
NODE_DTYPE = np.dtype({"names": ["threshold", "cat_start", "cat_n", "left", "right", "feature", "decision_type"],
                       "formats": ["<f8", "<i4", "<i4", "<i4", "<i4", "<i4", "<u4"],
                       "offsets": [0, 0, 4, 8, 12, 16, 20], "itemsize": 24})
"""Layout of one internal node (``fs_node`` in ``_forest.c``); ``cat_start``/``cat_n`` overlay ``threshold``."""
SHAP_TABLES_MB = 256.0
"""Default memory (MiB) for FastTreeSHAP v2 tables per model; trees beyond it use the classic algorithm."""
SHAP_TABLES_ENV = "FRAUDSCORE_SHAP_TABLES_MB"
"""Environment variable overriding :data:`SHAP_TABLES_MB` (``0``: classic TreeSHAP, bit-identical to LightGBM)."""
SHAP_TOLERANCE = 1e-12
"""Largest difference from LightGBM's contributions the load-time check accepts, relative to the row's scale."""
_lock = threading.Lock()
_modules: dict[str, Any] = {}


class CompileError(FraudscoreError, RuntimeError):
    """The compiled-trees extension could not be built or loaded (no compiler, no Python headers...)."""


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


# -- building the extension ----------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where built extensions are cached (see the module docstring)."""
    env = os.environ.get("FRAUDSCORE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fraudscore"


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc.split()[0]) and cc.split()[0]
    return shutil.which("gcc") or shutil.which("cc")


def _compiler_id(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.splitlines()[0] if out.stdout else cc
    except (OSError, subprocess.SubprocessError):
        return cc


def _private_dir(path: Path) -> bool:
    """Whether ``path`` is a directory owned by this user and not writable by others."""
    try:
        st = path.stat()
    except OSError:
        return False
    if not hasattr(os, "getuid"):  # pragma: no cover - non-POSIX
        return True
    return st.st_uid == os.getuid() and not (st.st_mode & 0o022)


def build_extension(*, cache: str | Path | None = None, force: bool = False) -> Path:
    """Compile ``_forest.c`` (once per source, compiler and Python) and return the path of the shared object.

    Raises
    ------
    CompileError
        No C compiler, no Python headers, or the compiler failed (its message included).
    """
    cc = _compiler()
    if cc is None:
        raise CompileError("compiled trees need a C compiler (gcc or cc, or $CC); none was found")
    include = sysconfig.get_paths().get("include") or ""
    if not (Path(include) / "Python.h").is_file():
        raise CompileError(f"compiled trees need the Python development headers (Python.h not found in {include!r})")
    source = b"\0".join(p.read_bytes() for p in (_SOURCE, _SHAP_SOURCE, _BEST_SOURCE))
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    key = hashlib.sha256(b"\0".join([source, _compiler_id(cc).encode(), " ".join(_CFLAGS).encode(),
                                     suffix.encode(), sys.version.encode()])).hexdigest()
    name = f"_fs_forest_{key[:16]}"
    root = Path(cache) if cache is not None else cache_dir()
    target_dir = root / "compiled"
    target = target_dir / (name + suffix)
    if target.is_file() and not force and _private_dir(target_dir):
        return target
    try:
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise CompileError(f"cannot create the compiled-trees cache {target_dir}: {e}") from None
    if not _private_dir(target_dir):
        raise CompileError(f"the compiled-trees cache {target_dir} must be owned by this user and not writable by "
                           "others")
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".build-") as tmp:
        out = Path(tmp) / (name + suffix)
        cmd = [cc, *_CFLAGS, f"-DFS_MODNAME={name}", f"-I{include}", f"-I{_SOURCE.parent}", str(_SOURCE), "-o",
               str(out), "-lm"]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise CompileError(f"compiling the compiled-trees extension failed: {e}") from None
        if res.returncode != 0 or not out.is_file():
            raise CompileError("compiling the compiled-trees extension failed:\n" + (res.stderr or res.stdout)[-2000:])
        os.replace(out, target)  # atomic: concurrent builders write the same bytes
    return target


def _load_module(path: Path) -> Any:
    name = path.name.split(".", 1)[0]
    with _lock:
        mod = _modules.get(str(path))
        if mod is not None:
            return mod
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:  # pragma: no cover - defensive
            raise CompileError(f"cannot load the compiled-trees extension {path}")
        try:
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        except ImportError as e:
            raise CompileError(f"cannot load the compiled-trees extension {path}: {e}") from None
        if mod.NODE_SIZE != NODE_DTYPE.itemsize:
            raise CompileError(f"the compiled-trees extension has {mod.NODE_SIZE}-byte nodes, expected "
                               f"{NODE_DTYPE.itemsize}")
        mod.set_error_class(ConfigError)
        _modules[str(path)] = mod
        return mod


def compiled_available() -> bool:
    """Whether compiled trees can be built and loaded here (compiler and headers present, not disabled).

    Examples
    --------
    >>> isinstance(compiled_available(), bool)
    True
    """
    if os.environ.get(DISABLE_ENV) == "1":
        return False
    try:
        _load_module(build_extension())
    except CompileError:
        return False
    return True


# -- the predictor ----------------------------------------------------------------------------------------
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


def _env_mb() -> float:
    raw = os.environ.get(SHAP_TABLES_ENV)
    if raw is None or raw == "":
        return SHAP_TABLES_MB
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigError(f"The {SHAP_TABLES_ENV} environment variable must be a number of megabytes. "
                          f"Got {raw!r} instead.") from None
    if not mb >= 0:
        raise ConfigError(f"The {SHAP_TABLES_ENV} environment variable must be >= 0. Got {raw!r} instead.")
    return mb


def _rebuild(tables: ForestTables, shap_tables_mb: float | None) -> CompiledForest:
    return CompiledForest(tables, shap_tables_mb=shap_tables_mb)


class CompiledForest:
    """Exact predictions of a binary LightGBM model by the compiled engine.

    Parameters
    ----------
    tables : ForestTables
        The model's node tables (:func:`forest_tables`).
    cache : path, optional
        Cache directory for the built extension (default :func:`cache_dir`).

    Attributes
    ----------
    mode : str
        ``"compiled"``.
    num_features : int
        Values per row.

    Raises
    ------
    CompileError
        When the extension cannot be built or loaded.
    """

    mode = "compiled"

    def __init__(self, tables: ForestTables, *, cache: str | Path | None = None,
                 shap_tables_mb: float | None = None) -> None:
        mod = _load_module(build_extension(cache=cache))
        self.tables = tables
        self.num_features = tables.num_features
        self._forest = mod.Forest(tables.nodes.tobytes(), tables.leaves, tables.roots, tables.cat_bits,
                                  tables.num_features, tables.sigmoid)
        self.predict_one = self._forest.predict_one
        self.predict_raw_one = self._forest.predict_raw_one
        self.threads = max(1, os.cpu_count() or 1)
        if tables.has_covers:
            mb = shap_tables_mb if shap_tables_mb is not None else _env_mb()
            self._forest.set_shap(tables.node_count, tables.leaf_count, tables.leaf_start,
                                  int(mb * 2**20) // 8)
        self._shap_tables_mb = shap_tables_mb

    @property
    def explains(self) -> bool:
        """Whether :meth:`contributions` is available (the model text held the node covers)."""
        return bool(self._forest.has_shap)

    @property
    def fast_shap(self) -> tuple[int, int]:
        """``(trees explained with FastTreeSHAP v2 tables, bytes of those tables)``; ``(0, 0)``: classic only."""
        n, size = self._forest.fast_shap
        return int(n), int(size)

    def contributions(self, X: Any, *, threads: int | None = None, classic: bool = False) -> np.ndarray:
        """Exact TreeSHAP contributions, equal to ``Booster.predict(X, pred_contrib=True)``.

        Shape ``(n, k + 1)``: one column per feature, then the bias, in raw-margin
        (log-odds) units. The GIL is released; rows are split over ``threads``
        threads (default: one per core).

        Trees with FastTreeSHAP v2 tables (:attr:`fast_shap`; built at load within
        ``shap_tables_mb``) are explained from them: the same values to rounding
        (within ``1e-12`` of LightGBM's on the tested models). ``classic=True``, or
        ``shap_tables_mb=0``, uses the classic algorithm for every tree, which
        equals LightGBM's bit for bit.

        Raises
        ------
        ConfigError
            When ``X`` does not have :attr:`num_features` columns, or the model text
            lacked the node covers (:attr:`explains` is False).
        """
        if not self.explains:
            raise ConfigError("compiled TreeSHAP needs the node covers (internal_count, leaf_count) in model.txt")
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ConfigError(f"The 'X' parameter must be a matrix with {self.num_features} columns. "
                              f"Got shape {X.shape} instead.")
        out = np.empty((X.shape[0], self.num_features + 1), dtype=np.float64)
        if X.shape[0]:
            self._forest.contrib(X, out, int(threads or self.threads), bool(classic))
        return out

    def verify_contributions(self, booster: Any, X: np.ndarray | None = None, n: int = 16) -> int:
        """Count rows of ``X`` (default: ``n`` :func:`probe_rows`) where :meth:`contributions` differs from
        ``booster.predict(X, pred_contrib=True)``: the classic algorithm in any bit, the tables by more than
        :data:`SHAP_TOLERANCE` times the row's scale (1 + the sum of absolute contributions). 0: all agree."""
        X = probe_rows(self.tables, n=n, seed=1) if X is None else np.asarray(X, dtype=np.float64)
        ref = np.asarray(booster.predict(X, pred_contrib=True, num_threads=1), dtype=np.float64)
        bad = np.any(ref.view(np.int64) != self.contributions(X, threads=1, classic=True).view(np.int64), axis=1)
        if self.fast_shap[0]:
            got = self.contributions(X, threads=1)
            scale = 1.0 + np.sum(np.abs(ref), axis=1)
            bad |= ~np.all(np.abs(got - ref) <= SHAP_TOLERANCE * scale[:, None], axis=1)
        return int(bad.sum())

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from the tables (copies, pickles, worker processes)
        return (_rebuild, (self.tables, self._shap_tables_mb))

    @classmethod
    def from_booster(cls, booster: Any, **kwargs: Any) -> CompiledForest:
        """Build from a ``lightgbm.Booster`` (through its text form)."""
        return cls(forest_tables(booster.model_to_string()), **kwargs)

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self._forest.n_trees)

    def predict(self, X: Any, *, raw: bool = False, threads: int | None = None) -> np.ndarray:
        """Probabilities (or raw margins) for every row of the matrix ``X`` (GIL released, ``threads`` threads)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_features:
            raise ConfigError(f"The 'X' parameter must be a matrix with {self.num_features} columns. "
                              f"Got shape {X.shape} instead.")
        out = np.empty(X.shape[0], dtype=np.float64)
        if X.shape[0]:
            self._forest.predict(X, out, raw, int(threads or self.threads))
        return out

    def predict_buffer(self, X: Any, out: Any) -> None:
        """Probabilities of the rows of ``X`` into ``out``, on this thread, without checks or allocation.

        ``X``: a C-contiguous float64 buffer of ``len(out)`` rows of ``num_features`` values; ``out``: a
        writable float64 buffer. The small-batch path (the device linker's few candidates per event),
        where :meth:`predict`'s array conversions would cost more than the trees.
        """
        self._forest.predict(X, out, False, 1)

    def predict_best_buffer(self, X: Any, out: Any) -> int:
        """:meth:`predict_buffer` for a caller that needs only the best row: ``out`` gets the probability, bit
        for bit, of every row that may be the best (the highest probability, all rows tied with it included)
        and ``-1.0`` for rows whose probability is provably lower (``_forest_best.h``: leaf bounds per tree,
        read once). Returns the number of trees walked (at most ``len(out) * n_trees``)."""
        return int(self._forest.predict_best(X, out))

    def verify(self, booster: Any, X: np.ndarray | None = None) -> int:
        """Count rows of ``X`` (default :func:`probe_rows`) where this forest differs from ``booster.predict``
        in probability or raw margin, bit for bit (0 means identical)."""
        X = probe_rows(self.tables) if X is None else np.asarray(X, dtype=np.float64)
        bad = np.zeros(X.shape[0], dtype=bool)
        for raw in (False, True):
            ref = np.asarray(booster.predict(X, raw_score=raw, num_threads=1), dtype=np.float64)
            got = self.predict(X, raw=raw)
            bad |= ref.view(np.int64) != got.view(np.int64)
        return int(bad.sum())

    def __repr__(self) -> str:
        return f"CompiledForest({self.n_trees} trees, {self.num_features} features)"
