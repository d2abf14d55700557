#!/usr/bin/env bash
# Builds rotor and runs every test: the release build (unit and integration
# tests, and the fuzz corpora replayed), then the whole suite again under
# AddressSanitizer and UBSan (the integration tests start the ASan rotor;
# the console's browser test runs in the release pass only).
# Then the unit tests under ThreadSanitizer, for the workers, the publisher and
# the registry that run side by side. Then each libFuzzer target for
# ROTOR_FUZZ_SECONDS (default 15; tests/fuzz/README.md). ROTOR_SKIP_ASAN=1,
# ROTOR_SKIP_TSAN=1 and ROTOR_SKIP_FUZZ=1 skip those passes. A failing test pass does not stop
# the next one; the script exits 1 at the end if any failed. A build error
# stops it at once.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }

step "dependencies"
tests/deps.sh

jobs=$(nproc)

step "release: configure and build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

step "release: unit and integration tests"
failed=()
ctest --preset release -j 2 || failed+=("release tests")

if [[ "${ROTOR_SKIP_ASAN:-0}" != 1 ]]; then
  step "asan: configure and build rotor and every test"
  cmake --preset asan >/dev/null
  cmake --build --preset asan -j "$jobs" \
    --target rotor rotor_unit_tests rotor_integration_tests fuzz_replay
  step "asan: the whole suite (the integration tests run the ASan rotor)"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    ctest --preset asan -j 2 -LE browser || failed+=("asan tests")
fi

if [[ "${ROTOR_SKIP_TSAN:-0}" != 1 ]]; then
  step "tsan: configure and build the unit tests"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs" --target rotor_unit_tests
  step "tsan: unit tests"
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp} \
    ctest --preset tsan -j 2 -R '^unit/' || failed+=("tsan unit tests")
fi

if [[ "${ROTOR_SKIP_FUZZ:-0}" != 1 ]]; then
  step "fuzz: bounded runs"
  # Two targets at a time, one per core: the four take half as long.
  ROTOR_FUZZ_JOBS=${ROTOR_FUZZ_JOBS:-$jobs} \
    tests/fuzz/run.sh "${ROTOR_FUZZ_SECONDS:-15}" || failed+=("fuzz")
fi

if ((${#failed[@]} > 0)); then
  step "FAILED: ${failed[*]}"
  exit 1
fi
step "all tests passed"
