#!/usr/bin/env bash
# Build fraudscore/_core with AddressSanitizer + UndefinedBehaviorSanitizer into a scratch copy of
# the source tree and run the compiled == Python parity tests (and the fuzz driver) against it.
# Usage: scripts/sanitize.sh [pytest args...]        (make asan)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
tar --exclude=.venv --exclude=.git --exclude='*.so' --exclude=build --exclude=site -cf - . | tar -xf - -C "$WORK"
cd "$WORK"
# each module from its C files as listed in setup.py's MODULES table, compiled directly: no build backend needed
CC="${CC:-gcc}"
INC="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
SUFFIX="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
MODULE_LINES="$("$PYTHON" - <<'PY'
import ast
tree = ast.parse(open("setup.py").read())
table = next(ast.literal_eval(n.value) for n in tree.body
             if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "MODULES")
for name, srcs in table.items():
    print(name, *srcs)
PY
)"
while read -r name srcs; do
  # shellcheck disable=SC2086 # the file list is split on purpose
  "$CC" -shared -fPIC -O1 -g -std=gnu11 -ffp-contract=off -fno-strict-aliasing -Wall -Wno-unused-function \
    -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
    -I"$INC" -Ifraudscore/_core $(printf 'fraudscore/_core/%s ' $srcs) -o "fraudscore/_core/$name$SUFFIX"
done <<< "$MODULE_LINES"
ASAN_LIB="$(gcc -print-file-name=libasan.so)"
UBSAN_LIB="$(gcc -print-file-name=libubsan.so)"
export LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$WORK"
"$PYTHON" -c "import fraudscore._core.velocity_store as m, sys; assert m.__file__.startswith('$WORK'), m.__file__; print('sanitized build:', m.__file__)"
# -s: a sanitizer report goes to stderr, which pytest would otherwise capture and lose on abort
"$PYTHON" -m pytest -q -s -p no:cacheprovider -o addopts="" tests/velocity/test_memory_compiled.py \
    tests/velocity/test_memory_store.py tests/velocity/test_memory_layout.py tests/test_identity_compiled.py \
    tests/fingerprint/test_sections_compiled.py tests/fingerprint/test_canonical_compiled.py \
    tests/fingerprint/test_build_compiled.py tests/velocity/test_check_compiled.py \
    tests/test_identity_kernel.py tests/test_schema_compiled.py tests/rules/test_native.py \
    tests/fingerprint/test_linking_compiled.py tests/fingerprint/test_linkstate_compiled.py \
    tests/test_pipeline_compiled.py tests/fingerprint/test_linker_compiled.py tests/fingerprint/test_linker_shortcuts.py \
    tests/velocity/test_redis_calls_compiled.py tests/fingerprint/test_linkstate_redis_compiled.py \
    tests/velocity/test_results_compiled.py tests/test_pipeline_online_compiled.py tests/velocity/test_value_keys.py \
    tests/fingerprint/test_linkstate_counts.py tests/velocity/test_columns_compiled.py \
    tests/velocity/test_redis_single_compiled.py tests/fingerprint/test_linkstate_redis_keys.py \
    tests/velocity/test_redis_blake_compiled.py tests/velocity/test_redis_random_compiled.py \
    tests/velocity/test_replay_compiled.py tests/test_devicecolumns_batch.py tests/test_scorer_decide_compiled.py \
    tests/fingerprint/test_linking_memo.py tests/fingerprint/test_linking_round15.py \
    tests/fingerprint/test_redis_lru_compiled.py tests/fingerprint/test_build_fused.py tests/test_f64view.py \
    tests/test_decision_inplace.py tests/fingerprint/test_linkonce_round16.py \
    tests/rules/test_hits_compiled.py tests/fingerprint/test_build_tuple.py \
    tests/velocity/test_field_cache_compiled.py tests/test_schema_template.py tests/test_identity_domains.py \
    tests/test_attrcache.py \
    tests/fingerprint/test_int_memo_round17.py tests/rules/test_flat_cmp_round17.py \
    tests/fingerprint/test_linkbatch_round17.py tests/test_identity_batch_sink.py "$@"
# the compiled forest + TreeSHAP (fraudscore/model/_forest.c, built on load, not by setup.py): a sanitized build
# stands in for the cached one while its parity tests (LightGBM predict and pred_contrib) run
FOREST_SO="$WORK/_fs_forest_asan$SUFFIX"
"$CC" -shared -fPIC -O1 -g -std=gnu11 -pthread -ffp-contract=off -fno-strict-aliasing -Wall -Wno-unused-function \
  -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DFS_MODNAME=_fs_forest_asan \
  -I"$INC" -Ifraudscore/model fraudscore/model/_forest.c -o "$FOREST_SO" -lm
"$PYTHON" - "$FOREST_SO" <<'PY'
import pathlib, sys
import pytest
import fraudscore.model.compiled as compiled
so = pathlib.Path(sys.argv[1])
compiled.build_extension = lambda **kw: so  # every CompiledForest loads the sanitized build
sys.exit(pytest.main(["-q", "-s", "-p", "no:cacheprovider", "-o", "addopts=", "tests/model/test_treeshap.py",
                      "tests/model/test_compiled.py", "tests/model/test_forest_best.py", "tests/model/test_forest_row.py",
                      "tests/model/test_forest_lanes.py", "tests/fingerprint/test_linkbatch_round17.py", "-k", "not bench_bundles and not no_compiler and not refuses_a_cache"]))
PY
"$PYTHON" scripts/fuzz_core.py --seconds "${FUZZ_SECONDS:-20}" --no-atheris
echo "sanitizers: clean"
