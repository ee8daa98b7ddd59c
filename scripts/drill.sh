#!/usr/bin/env bash
# usage: scripts/drill.sh [cpr drill flags...]
#
# CPR's main job: the disaster drill (`cpr drill`) on a local lab of real etcd
# 3.4 masters (127.0.0.0/8 addresses, mutual TLS): quorum loss recovered with
# `cpr restore-quorum`, an accidental delete undone on every master with
# `cpr restore-cluster`, every key checked, each step timed.
#   1. installs what is needed (scripts/setup.sh) and builds cpr (Release, build/);
#   2. runs `build/cpr drill --report drill-report.html` (plus your flags);
#      the report is one self-contained page with a timeline.
# Exit 0 only when every check of the drill passed.
# Env: JOBS (build parallelism, default 2), CPR_BIN=PATH (use that cpr; no setup, no build).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
JOBS=${JOBS:-2}
if [ -n "${CPR_BIN:-}" ]; then
  CPR=$(readlink -f "$CPR_BIN")
else
  echo "# installing packages (if missing) and building cpr"
  bash scripts/setup.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$JOBS"
  CPR=$REPO/build/cpr
fi
echo "# cpr drill --report drill-report.html $*"
exec "$CPR" drill --report drill-report.html "$@"
