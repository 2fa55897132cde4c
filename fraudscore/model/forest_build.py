"""Building and loading the compiled-trees extension (``_forest.c``) at run time, outside any bundle.

Native code is never read from a bundle. The extension is compiled on first
use with the machine's C compiler (``$CC``, else ``gcc``, else ``cc``; Python
headers needed) into a per-user cache directory keyed by the sha256 of the C
sources (``_forest.c`` and the ``_forest*.h`` headers it includes), the compiler
and the Python ABI (``$FRAUDSCORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/fraudscore``,
else ``~/.cache/fraudscore``), and loaded from there; one build serves every model.

Examples
--------
>>> isinstance(compiled_available(), bool)
True
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FraudscoreError
from .forest_tables import NODE_DTYPE

__all__ = ["CompileError", "build_extension", "cache_dir", "compiled_available", "DISABLE_ENV"]

DISABLE_ENV = "FRAUDSCORE_NO_COMPILED"
"""Set to ``1`` to never build or load compiled trees (the C fast path is used instead)."""
_SOURCE = Path(__file__).with_name("_forest.c")
_CFLAGS = ("-O2", "-fPIC", "-shared", "-pthread", "-fno-fast-math", "-ffp-contract=off", "-fno-strict-aliasing",
           "-fvisibility=hidden")


def _sources() -> list[Path]:
    """``_forest.c`` and the ``_forest*.h`` headers beside it (all part of the build's cache key)."""
    return [_SOURCE, *sorted(_SOURCE.parent.glob("_forest*.h"))]


_lock = threading.Lock()
_modules: dict[str, Any] = {}


class CompileError(FraudscoreError, RuntimeError):
    """The compiled-trees extension could not be built or loaded (no compiler, no Python headers...)."""


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
    source = b"\0".join(p.read_bytes() for p in _sources())
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
