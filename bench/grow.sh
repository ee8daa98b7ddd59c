#!/usr/bin/env bash
# usage: grow.sh SNAPSHOT.db [--record]
#
# Kill of two masters -> three healthy voting members again (issue 10's speed
# goal), CPR beside the etcdctl-scripted procedure, on the same data in one run:
#   cpr      on a `cpr lab` of 3 masters (mutual TLS, static pods) loaded with
#            SNAPSHOT (`cpr restore-cluster --lab`, untimed) and a `cpr backup`
#            from m2 (untimed); m2 and m3 killed; timed from `cpr restore-quorum`
#            on m1 until etcdctl `endpoint health` passes on m1, m4 and m5:
#            the restore, two fresh hosts (`cpr lab add`), `cpr signer serve` on
#            m1, a member token each, `cpr member recover` on both at once;
#   etcdctl  bench/rto-3member.sh on SNAPSHOT: its total (stop the survivor,
#            snapshot restore, start, member add + start one at a time).
# RUNS times each (default 3). Prints medians and the ratio, the phases of
# each cpr run; --record appends them to bench/RESULTS.md.
# Env: CPR (default build/cpr), RUNS, BENCH_ROOT (/tmp/cprbench).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
[ $# -ge 1 ] || { sed -n '2p' "$0" >&2; exit 2; }
SNAP=$(readlink -f "$1")
RECORD=${2:-}
CPR=$(readlink -f "${CPR:-$HERE/../build/cpr}")
RUNS=${RUNS:-3}
W=$BENCH_ROOT/work-grow-$$
mkdir -p "$W"
cleanup() {
  "$CPR" signer stop --state "$W/signer" >/dev/null 2>&1 || true
  "$CPR" lab down --dir "$W/lab" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

cpr_run() { # one timed run; prints "total restore grow" seconds
  "$CPR" lab up --dir "$W/lab" --masters 3 -w json >"$W/lab.json"
  read -r IC ROOT1 IP1 EP1 EP2 CA CERT KEY PKI < <("$PY" - "$W/lab.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); h = j["hosts"]
print(j["initial_cluster"], h[0]["root"], h[0]["ip"], h[0]["client_url"], h[1]["client_url"],
      j["admin"]["cacert"], j["admin"]["cert"], j["admin"]["key"], j["pki"])
PY
)
  "$CPR" restore-cluster "$SNAP" "$IC" --lab "$W/lab" --no-bump >"$W/load.log" 2>&1
  "$CPR" backup "$W/bk" --endpoints "$EP2" --cacert "$CA" --cert "$CERT" --key "$KEY" \
    --resources "$(dirname "$ROOT1")/m2/etc/kubernetes/static-pod-resources" >"$W/backup.log" 2>&1
  "$CPR" lab kill --dir "$W/lab" m2
  "$CPR" lab kill --dir "$W/lab" m3
  local t0 t1 eps ips=() pids=() n
  t0=$(now)
  "$CPR" restore-quorum "$W/bk" "${IC%%,*}" --root "$ROOT1" >"$W/rq.log" 2>&1 ||
    die "restore-quorum failed: $(tail -3 "$W/rq.log")"
  until "$ETCDCTL" --endpoints "$EP1" --cacert "$CA" --cert "$CERT" --key "$KEY" \
    --command-timeout=1s get x >/dev/null 2>&1; do sleep 0.02; done
  t1=$(now)
  for n in m4 m5; do
    ips+=("$("$CPR" lab add --dir "$W/lab" "$n" -w json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["hosts"][0]["ip"])')")
  done
  rm -rf "$W/signer"
  "$CPR" signer serve --pki "$PKI" --listen "$IP1:9943" --state "$W/signer" >"$W/signer.log" 2>&1 &
  until [ -s "$W/signer/signer.json" ]; do sleep 0.02; done
  eps=$EP1
  for i in 0 1; do
    n=m$((4 + i))
    "$CPR" signer token "$n" --ip "${ips[$i]}" --profile member --kubeconfig "$W/$n.rec" \
      --state "$W/signer" >/dev/null
    "$CPR" member recover --name "$n" --peer-url "https://${ips[$i]}:2380" --endpoints "$EP1" \
      --cacert "$CA" --cert "$CERT" --key "$KEY" --kubeconfig "$W/$n.rec" \
      --root "$W/lab/$n" >"$W/$n.log" 2>&1 &
    pids+=($!)
    eps="$eps,https://${ips[$i]}:2379"
  done
  wait "${pids[@]}" || die "member recover failed: $(tail -2 "$W"/m4.log "$W"/m5.log)"
  until "$ETCDCTL" --endpoints "$eps" --cacert "$CA" --cert "$CERT" --key "$KEY" \
    --command-timeout=1s endpoint health >/dev/null 2>&1; do sleep 0.02; done
  local t2
  t2=$(now)
  "$CPR" signer stop --state "$W/signer" >/dev/null
  echo "$("$PY" -c "print('%.2f %.2f %.2f' % ($t2 - $t0, $t1 - $t0, $t2 - $t1))")"
  "$CPR" lab down --dir "$W/lab" >/dev/null
  rm -rf "$W/bk"
}

CPR_TIMES=()
for run in $(seq 1 "$RUNS"); do
  read -r total restore grow < <(cpr_run | tail -1)
  log "cpr run $run: kill -> 3 healthy ${total}s (restore-quorum ${restore}s, growth ${grow}s)"
  CPR_TIMES+=("$total")
done
log "etcdctl procedure (bench/rto-3member.sh, RUNS=$RUNS)"
OUT_DIR=$W/rto RUNS=$RUNS bash "$HERE/rto-3member.sh" "$SNAP" >"$W/rto.log" 2>&1 ||
  die "rto-3member.sh failed: $(tail -5 "$W/rto.log")"
"$PY" "$HERE/versus_etcdctl.py" "grow: kill of two masters -> three healthy voting members" "$SNAP" "$W/rto/results.json" total \
  "cpr restore-quorum + lab add x2 + signer + member recover x2 at once (mutual TLS)" \
  "etcdctl: stop + snapshot restore + start + member add/start one at a time (rto-3member.sh, plain http)" \
  "$RECORD" "$HERE/RESULTS.md" "${CPR_TIMES[@]}"
