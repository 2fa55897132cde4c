"""Build of the compiled core (``fraudscore/_core``); everything else is in pyproject.toml.

One extension module per step it accelerates, named like the Python module it mirrors.
``FRAUDSCORE_BUILD_EXT=0`` builds a pure-Python install (the modules then fall back to
the reference implementation, see ``fraudscore/_core/__init__.py``); ``FRAUDSCORE_CFLAGS``
adds compiler flags (the sanitizer build, ``make asan``, uses it).
"""

from __future__ import annotations

import os
import shlex

from setuptools import Extension, setup

CORE = "fraudscore/_core"
# -ffp-contract=off: no fused multiply-add, so float results equal the Python reference bit for bit
CFLAGS = ["-O2", "-std=gnu11", "-ffp-contract=off", "-fno-strict-aliasing", "-fvisibility=hidden", "-Wall",
          "-Wno-unused-function",
          *shlex.split(os.environ.get("FRAUDSCORE_CFLAGS", ""))]
LDFLAGS = shlex.split(os.environ.get("FRAUDSCORE_LDFLAGS", ""))
# each module's C files (vendored code is #included into them); scripts/sanitize.sh reads this table
MODULES = {
    "velocity_store": ["velocity_store.c"],
    "pseudonym": ["pseudonym.c"],
    "fingerprint": ["fingerprint.c", "fingerprint_sections.c", "fingerprint_canonical.c", "fingerprint_build.c",
                    "fingerprint_signals.c"],
    "linking": ["linking.c"],
    "identity": ["identity.c"],
    "schema": ["schema.c"],
    "rules": ["rules.c"],
    "linkstate": ["linkstate.c"],
    "pipeline": ["pipeline.c"],
    "linker": ["linker.c"],
    "redis_calls": ["redis_calls.c"],
    "columns": ["columns.c"],  # round 13, batchrow: the batch path's column kernels (factorize)
}
# headers a module includes (a change rebuilds it)
DEPENDS = {"fingerprint": ["fingerprint.h"], "linking": ["linkcommon.h", "linking_pack.h", "linking_odict.h", "linking_attr.h"],
           "linkstate": ["linkcommon.h", "linkstate_decide.h", "linkstate_keys.h", "linking_attr.h", "linkstate_state.h"],
           "linker": ["linking_attr.h", "linking_views.h"],
           "redis_calls": ["redis_records.h", "redis_layout.h", "redis_outputs.h", "redis_linkcache.h", "redis_linkwrite.h"],
           "identity": ["pseudonym.h", "dotted.h", "identity_describe.h"], "pseudonym": ["pseudonym.h"],
           "velocity_store": ["keys.h", "velocity_tables.h", "velocity_windows.h", "velocity_entities.h",
                              "velocity_snapshot.h"]}
DEPENDS["identity"].append("blake2b_fast.h"); DEPENDS["pseudonym"].append("blake2b_fast.h")  # round 12, eventpath
DEPENDS["velocity_store"].append("velocity_results.h")  # round 12, eventpath
DEPENDS["redis_calls"].append("redis_single.h")  # round 13, redisworker
DEPENDS["linkstate"] += ["linkstate_counts.h", "linkstate_maps.h", "linkstate_entry.h"]; DEPENDS["linking"] += ["linkstate_maps.h", "linking_maps.h"]  # round 13, linkc
DEPENDS["pipeline"] = ["pipeline_online.h"]  # round 13, eventcall
DEPENDS["pipeline"] += ["pipeline_decide.h", "pipeline_hits.h"]  # round 14, eventpath
DEPENDS["velocity_store"].append("dlist.h"); DEPENDS["linkstate"].append("dlist.h"); DEPENDS["linking"].append("dlist.h")  # review: shared list ops
DEPENDS["redis_calls"] += ["redis_blake.h", "blake2b_fast.h", "redis_random.h"]  # round 14, redislink
DEPENDS["linking"].append("linking_walk.h")  # round 14, linkrec: the walk in its own header
DEPENDS["linking"].append("dict_layout.h"); DEPENDS["linker"].append("dict_layout.h"); DEPENDS["linkstate"].append("dict_layout.h")  # review: CPython dict internals in one place
for _m in ("schema", "rules", "fingerprint"): DEPENDS.setdefault(_m, []).append("pytuple.h")  # review: pair_steal
DEPENDS["linking"].append("linking_scratch.h")  # round 15, linkflat: select's scratch, the parsed version lists
DEPENDS["redis_calls"].append("redis_lru.h")  # round 15, rediscache: the cache's order kept cheaper, record keys made
DEPENDS["pipeline"].append("dict_layout.h")  # round 15, eventpath: the Decision dict filled in place
DEPENDS["identity"].append("f64view.h"); DEPENDS.setdefault("rules", []).append("f64view.h"); DEPENDS["pipeline"].append("f64view.h"); DEPENDS["velocity_store"].append("f64view.h")  # round 15, eventpath
DEPENDS["linking"].append("linkfp.h"); DEPENDS["linkstate"] += ["linkfp.h", "linkstate_record.h"]  # round 16, linkonce: the fingerprint parsed once
for _m in ("linking", "linker", "linkstate"): DEPENDS[_m].append("switch_arg.h")  # review: the link modules' switches
DEPENDS["fingerprint"].append("slots.h"); DEPENDS["rules"].append("slots.h"); DEPENDS["pipeline"].append("pipeline_decision.h")  # round 16, fpstage
DEPENDS["velocity_store"] += ["velocity_fields.h", "dict_layout.h"]; DEPENDS["schema"].append("dict_layout.h"); DEPENDS["identity"] += ["identity_columns.h", "identity_domains.h"]  # round 16, velident
DEPENDS["pipeline"].append("attrcache.h")  # round 17, attrcache: guarded attribute reads


def extensions() -> list[Extension]:
    if os.environ.get("FRAUDSCORE_BUILD_EXT", "1") == "0":
        return []
    return [Extension(f"fraudscore._core.{name}", sources=[f"{CORE}/{s}" for s in srcs], include_dirs=[CORE],
                      depends=[f"{CORE}/{h}" for h in DEPENDS.get(name, [])],
                      extra_compile_args=CFLAGS, extra_link_args=LDFLAGS)
            for name, srcs in MODULES.items()]


setup(ext_modules=extensions())
