#!/usr/bin/env bash
# usage: restore-quorum.sh SNAPSHOT.db [--record]
#
# Quorum loss recovered on one master, CPR beside the etcdctl-scripted
# procedure, on the same data in one run (issue 9's speed goal):
#   cpr      on a `cpr lab` of 3 masters (mutual TLS, static pods) loaded with
#            SNAPSHOT (`cpr restore-cluster --lab`, untimed), a `cpr backup`
#            from m2 (untimed); then m2 and m3 are killed and the time runs
#            from `cpr restore-quorum` on m1 until etcdctl gets a
#            linearizable read from m1;
#   etcdctl  bench/rto-3member.sh on SNAPSHOT: its single-member RTO (stop
#            the survivor, etcdctl snapshot restore, start, linearizable read).
# RUNS times each (default 3), alternating. Prints medians and the ratio;
# --record appends them to bench/RESULTS.md.
# Env: CPR (default build/cpr), RUNS, BENCH_ROOT (/tmp/cprbench).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
[ $# -ge 1 ] || { sed -n '2p' "$0" >&2; exit 2; }
SNAP=$(readlink -f "$1")
RECORD=${2:-}
CPR=$(readlink -f "${CPR:-$HERE/../build/cpr}")
RUNS=${RUNS:-3}
W=$BENCH_ROOT/work-rq-$$
mkdir -p "$W"
trap '"$CPR" lab down --dir "$W/lab" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT

cpr_run() { # one timed restore-quorum; prints seconds
  "$CPR" lab up --dir "$W/lab" --masters 3 -w json >"$W/lab.json"
  read -r IC ROOT1 EP1 EP2 CA CERT KEY < <("$PY" - "$W/lab.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); h = j["hosts"]
print(j["initial_cluster"], h[0]["root"], h[0]["client_url"], h[1]["client_url"],
      j["admin"]["cacert"], j["admin"]["cert"], j["admin"]["key"])
PY
)
  "$CPR" restore-cluster "$SNAP" "$IC" --lab "$W/lab" --no-bump >"$W/load.log" 2>&1
  "$CPR" backup "$W/bk" --endpoints "$EP2" --cacert "$CA" --cert "$CERT" --key "$KEY" \
    --resources "$(dirname "$ROOT1")/m2/etc/kubernetes/static-pod-resources" >"$W/backup.log" 2>&1
  "$CPR" lab kill --dir "$W/lab" m2
  "$CPR" lab kill --dir "$W/lab" m3
  local t0
  t0=$(now)
  "$CPR" restore-quorum "$W/bk" "${IC%%,*}" --root "$ROOT1" >"$W/rq.log" 2>&1 ||
    die "restore-quorum failed: $(tail -3 "$W/rq.log")"
  until "$ETCDCTL" --endpoints "$EP1" --cacert "$CA" --cert "$CERT" --key "$KEY" \
    --command-timeout=1s get x >/dev/null 2>&1; do sleep 0.02; done
  since "$t0"
  cp "$W/rq.log" "$W/rq-last.log"
  # etcd's own part: from its start to the first linearizable read (boot,
  # index load, first election), and CPR's restore-db step
  awk -F'|' '$2 ~ /wait-serving|restore-db|stop-pods/ {gsub(/ /, "", $2); gsub(/ /, "", $5);
    printf "%s=%s ", $2, $5}' "$W/rq.log" >"$W/steps-$RANDOM.txt"
  "$CPR" lab down --dir "$W/lab" >/dev/null
  rm -rf "$W/bk"
}

CPR_TIMES=()
for run in $(seq 1 "$RUNS"); do
  rm -f "$W"/steps-*.txt
  t=$(cpr_run | tail -1)
  log "cpr restore-quorum run $run: kill -> serving ${t}s ($(cat "$W"/steps-*.txt))"
  CPR_TIMES+=("$t")
done
log "etcdctl procedure (bench/rto-3member.sh, RUNS=$RUNS)"
OUT_DIR=$W/rto RUNS=$RUNS bash "$HERE/rto-3member.sh" "$SNAP" >"$W/rto.log" 2>&1 ||
  die "rto-3member.sh failed: $(tail -5 "$W/rto.log")"
"$PY" "$HERE/versus_etcdctl.py" "restore-quorum: kill of two masters -> survivor serving" "$SNAP" "$W/rto/results.json" single_member_rto \
  "cpr restore-quorum (lab: mutual TLS, static pods, backup verified, revisions bumped)" \
  "etcdctl: stop survivor + snapshot restore + start (rto-3member.sh, plain http)" \
  "$RECORD" "$HERE/RESULTS.md" "${CPR_TIMES[@]}"
