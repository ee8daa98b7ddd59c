#!/usr/bin/env bash
# usage: scripts/lint.sh [FILE.cc ...]
#
# clang-format (check only), cppcheck and clang-tidy (.clang-tidy) on CPR's
# sources: the files given, or every .cc under src/ that the clang build
# compiles. clang-tidy needs a clang compile database: build-tidy/ is
# configured (not built) with clang for it. Exit non-zero on any finding.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
rc=0

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' | grep -v '^src/client/proto/')
fi

echo "== clang-format"
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "clang-format: run clang-format -i on the files above" >&2
  rc=1
fi

echo "== cppcheck"
mapfile -t ccs < <(printf '%s\n' "${files[@]}" | grep '\.cc$')
if ! cppcheck --enable=warning,performance,portability --std=c++20 --inline-suppr --quiet \
  --error-exitcode=1 -I src "${ccs[@]}"; then
  rc=1
fi

echo "== clang-tidy"
CC=clang CXX=clang++ cmake -S . -B build-tidy -G Ninja -DCPR_FUZZ=ON >/dev/null || exit 1
# Only files in the clang compile database (client/ needs gRPC codegen: g++ only).
mapfile -t tidy < <(/usr/bin/python3 - "${ccs[@]}" <<'PY'
import json, os, sys
db = {os.path.realpath(e["file"]) for e in json.load(open("build-tidy/compile_commands.json"))}
for f in sys.argv[1:]:
    if os.path.realpath(f) in db:
        print(f)
PY
)
if [ ${#tidy[@]} -gt 0 ]; then
  out=$(printf '%s\n' "${tidy[@]}" | xargs -P 2 -n 4 clang-tidy -p build-tidy --quiet 2>&1)
  if printf '%s\n' "$out" | grep -E 'error:|warning:' | grep -v 'warnings generated'; then
    rc=1
  fi
fi
[ $rc -eq 0 ] && echo "lint: clean (${#files[@]} files)"
exit $rc
