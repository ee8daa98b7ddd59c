#!/usr/bin/env bash
# usage: scripts/test.sh
#
# CPR's whole test suite, stage by stage; stops at the first failing stage.
#   setup         scripts/setup.sh (Debian packages)
#   release       Release build in build/, then every CTest test (unit + integration)
#   asan          ASan/UBSan Debug build in build-asan/, unit tests + integration tests labelled small
#   fuzz          libFuzzer build with clang in build-fuzz/, bolt_fuzz for 60 s on tests/fuzz/corpus/
#   bench-smoke   bench/smoke.sh (small snapshot: cpr status == etcdctl status, the bench runs)
#   lint          scripts/lint.sh: clang-format, cppcheck and clang-tidy clean on src/
# Ends with "N passed, N failed" (stages). Env: JOBS (default 2), FUZZ_SECONDS (60).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
passed=0
failed=0
T0=$(date +%s)

summary() {
  echo "== test.sh: $passed passed, $failed failed ($(($(date +%s) - T0)) s)"
}

# stage NAME COMMAND...: run it, count it, stop the suite if it fails
stage() {
  local name=$1 t0 rc
  shift
  t0=$(date +%s)
  echo "== stage $name: $*"
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "== stage $name: passed in $(($(date +%s) - t0)) s"
  else
    failed=$((failed + 1))
    echo "== stage $name: FAILED (exit $rc) after $(($(date +%s) - t0)) s"
    summary
    exit 1
  fi
}

release() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&
    cmake --build build -j"$JOBS" &&
    ctest --test-dir build --output-on-failure --no-tests=error -j"$JOBS"
}

asan() {
  cmake -S . -B build-asan -DCPR_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug &&
    cmake --build build-asan -j"$JOBS" &&
    ctest --test-dir build-asan --output-on-failure --no-tests=error -j"$JOBS" -LE integration &&
    CPR_TEST_SANITIZED=1 ctest --test-dir build-asan --output-on-failure --no-tests=error -j"$JOBS" -L small
}

fuzz() {
  local target=build-fuzz/tests/fuzz/bolt_fuzz corpus=tests/fuzz/corpus work
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCPR_FUZZ=ON || return 1
  cmake --build build-fuzz -j"$JOBS" || return 1
  if [ ! -x "$target" ]; then
    echo "fuzz: no fuzz target at $target" >&2
    return 1
  fi
  if [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
    echo "fuzz: no seed corpus in $corpus" >&2
    return 1
  fi
  # new inputs go to a scratch dir (first dir); the committed corpus is only read
  work=$(mktemp -d)
  mkdir -p build-fuzz/artifacts
  "$target" -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/ "$work" "$corpus"
  local rc=$?
  rm -rf "$work"
  [ $rc -eq 0 ] || echo "fuzz: crash or leak; reproducer in build-fuzz/artifacts/" >&2
  return $rc
}

bench_smoke() {
  CPR=build/cpr bash bench/smoke.sh
}

stage setup bash scripts/setup.sh
stage release release
stage asan asan
stage fuzz fuzz
stage bench-smoke bench_smoke
stage lint bash scripts/lint.sh
summary
