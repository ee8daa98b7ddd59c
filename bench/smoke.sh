#!/usr/bin/env bash
# usage: smoke.sh
#
# Bench smoke for scripts/test.sh: on a small (~16 MiB) Kubernetes-like
# snapshot made by real etcd (cached as $BENCH_ROOT/snap-16.db), checks that
# `cpr snapshot status -w json` equals `etcdctl snapshot status -w json` on
# hash/revision/totalKey/totalSize and that verify passes, then runs
# snapshot-engine.sh on it with 2 warm runs and 1 cold run, so the bench
# itself is known to work. Not a measurement: nothing is recorded.
# Env: CPR (default build/cpr), BENCH_ROOT (/tmp/cprbench), SMOKE_MB (16).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
CPR=$(readlink -f "${CPR:-$REPO/build/cpr}")
export CPR
[ -x "$CPR" ] || die "no cpr binary at $CPR"
MB=${SMOKE_MB:-16}
SNAP=$BENCH_ROOT/snap-$MB.db

# make (or reuse) the snapshot and time it: snapshot-engine.sh does both
t0=$(now)
RUNS=2 COLD_RUNS=1 "$HERE/snapshot-engine.sh" "$MB"
[ -f "$SNAP" ] || die "snapshot-engine.sh made no $SNAP"

ref=$("$ETCDCTL" snapshot status "$SNAP" -w json)
got=$("$CPR" snapshot status "$SNAP" -w json)
"$PY" - "$ref" "$got" <<'EOF'
import json, sys
ref, got = json.loads(sys.argv[1]), json.loads(sys.argv[2])
four = ("hash", "revision", "totalKey", "totalSize")
a, b = {k: ref[k] for k in four}, {k: got.get(k) for k in four}
if a != b:
    sys.exit("bench smoke: cpr status %s != etcdctl %s" % (b, a))
print("bench smoke: status equal to etcdctl: %s" % json.dumps(a))
EOF
"$CPR" snapshot verify "$SNAP" >/dev/null || die "cpr snapshot verify failed on $SNAP"
# The procedures' benches, one run each on the small snapshot: they must
# still work end to end (their timings here mean nothing).
RUNS=1 "$HERE/restore-quorum.sh" "$SNAP" >/dev/null || die "restore-quorum.sh failed"
RUNS=1 "$HERE/grow.sh" "$SNAP" >/dev/null || die "grow.sh failed"
log "bench smoke OK in $(since "$t0")s"
