#!/usr/bin/env bash
# usage: scripts/demo.sh
#
# CPR's main job, for now: back up a 3-member etcd cluster (mutual TLS on every connection,
# certificates from `cpr pki init`), read the backups offline, and restore one natively.
#   1. installs what is needed (scripts/setup.sh) and builds cpr (Release, build/);
#   2. starts a 3-member etcd 3.4 cluster on three free loopback addresses
#      (127.0.0.100+, ports 2379/2380 as on real hosts), loads Kubernetes-like data
#      (real apiserver value formats), shows `cpr member list` and `cpr endpoint status`,
#      takes a backup with `cpr backup` (from a follower: snapshot + an OpenShift-style
#      static-pod-resources tar.gz + manifest, verified), changes a few objects (a Pod is
#      updated, then deleted by accident), takes a second backup, stops etcd;
#   3. shows `cpr snapshot status, verify, ls, get -w yaml, history, diff` on them;
#   4. restores backup 1 with `cpr snapshot restore` (no etcdctl), boots etcd on it and reads
#      back the Pod that was deleted after that backup.
# Everything lives in a temp dir that is removed at the end; etcd is stopped by its PIDs.
# Env: JOBS (build parallelism, default 2), DEMO_MB (data to load, default 8),
#      CPR_BIN=PATH (use that cpr binary; no setup, no build).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
PY=/usr/bin/python3
export ETCDCTL_API=3
JOBS=${JOBS:-2}

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B='' N=''; fi
say() { printf '\n%s# %s%s\n' "$B" "$*" "$N"; }
run() { printf '$ %s\n' "$*"; "$@"; }

if [ -n "${CPR_BIN:-}" ]; then
  CPR=$(readlink -f "$CPR_BIN")
else
  say "installing packages (if missing) and building cpr"
  bash scripts/setup.sh
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j"$JOBS"
  CPR=$REPO/build/cpr
fi

WORK=$(mktemp -d /tmp/cpr-demo.XXXXXX)
ETCD_PIDS=()
stop_etcd() {
  local pid
  for pid in "${ETCD_PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${ETCD_PIDS[@]:-}"; do
    [ -n "$pid" ] && { wait "$pid" 2>/dev/null || true; }
  done
  ETCD_PIDS=()
}
cleanup() {
  stop_etcd
  rm -rf "$WORK"
}
trap cleanup EXIT

# three loopback addresses whose 2379/2380 are free (as three master hosts would use them)
ADDRS=$("$PY" - <<'EOF'
import socket
def free(a, p):
    s = socket.socket()
    try:
        s.bind((a, p)); return True
    except OSError:
        return False
    finally:
        s.close()
found = [a for a in ("127.0.0.%d" % i for i in range(100, 200)) if free(a, 2379) and free(a, 2380)]
print(" ".join(found[:3]))
EOF
)
read -r -a HOSTS <<<"$ADDRS"
[ ${#HOSTS[@]} -eq 3 ] || { echo "demo: no three free 127.0.0.x addresses with ports 2379/2380" >&2; exit 1; }
ADDR=${HOSTS[0]}
EPS=https://${HOSTS[0]}:2379,https://${HOSTS[1]}:2379,https://${HOSTS[2]}:2379
INITIAL=m0=https://${HOSTS[0]}:2380,m1=https://${HOSTS[1]}:2380,m2=https://${HOSTS[2]}:2380

say "certificates: cpr pki init (etcd CA, metrics CA, peer/server/metric per master, an admin client)"
PKI=$WORK/pki
run "$CPR" pki init --dir "$PKI" --hosts "m0=${HOSTS[0]},m1=${HOSTS[1]},m2=${HOSTS[2]}" >/dev/null
# every client below (etcdctl, cpr, the loader) uses the admin certificate
export ETCDCTL_CACERT=$PKI/ca.crt ETCDCTL_CERT=$PKI/admin.crt ETCDCTL_KEY=$PKI/admin.key
export LOAD_CACERT=$ETCDCTL_CACERT LOAD_CERT=$ETCDCTL_CERT LOAD_KEY=$ETCDCTL_KEY

# start_member NAME HOST DATA_DIR INITIAL_CLUSTER CERTS: one etcd, TLS on client and peer sides
start_member() {
  local name=$1 h=$2 data=$3 initial=$4 certs=$5
  etcd --name "$name" --data-dir "$data" \
    --listen-client-urls "https://$h:2379" --advertise-client-urls "https://$h:2379" \
    --listen-peer-urls "https://$h:2380" --initial-advertise-peer-urls "https://$h:2380" \
    --initial-cluster "$initial" --initial-cluster-token cpr-demo \
    --cert-file "$certs/server.crt" --key-file "$certs/server.key" \
    --trusted-ca-file "$PKI/ca.crt" --client-cert-auth \
    --peer-cert-file "$certs/peer.crt" --peer-key-file "$certs/peer.key" \
    --peer-trusted-ca-file "$PKI/ca.crt" --peer-client-cert-auth \
    --max-request-bytes 16777216 --max-txn-ops 100000 \
    --logger zap --log-level warn >"$WORK/etcd-$name.log" 2>&1 &
  ETCD_PIDS+=($!)
}

say "starting a 3-member etcd $(etcd --version | head -1 | awk '{print $3}') cluster on ${HOSTS[*]}, mutual TLS everywhere (data in $WORK)"
for i in 0 1 2; do
  start_member "m$i" "${HOSTS[$i]}" "$WORK/data-m$i" "$INITIAL" "$PKI/m$i"
done
for _ in $(seq 300); do
  etcdctl --endpoints "$EPS" --dial-timeout=1s endpoint health >/dev/null 2>&1 && break
  for pid in "${ETCD_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { cat "$WORK"/etcd-m*.log >&2; exit 1; }
  done
  sleep 0.1
done
run "$CPR" endpoint health --endpoints "$EPS"

# an OpenShift-style static-pod-resources folder: revisions 3 and 4 of each component
RES=$WORK/static-pod-resources
for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do
  for n in 3 4; do
    mkdir -p "$RES/$c-pod-$n/secrets/serving-cert" "$RES/$c-pod-$n/configmaps/config"
    echo "demo $c revision $n" >"$RES/$c-pod-$n/configmaps/config/config.yaml"
    echo "not a real key" >"$RES/$c-pod-$n/secrets/serving-cert/tls.key"
  done
done

say "loading ~${DEMO_MB:-8} MB of Kubernetes-like objects (bench/load_etcd.py: protobuf Pods, Secrets, ..., leases, a compaction)"
"$PY" bench/load_etcd.py --endpoint "$ADDR:2379" --target-mb "${DEMO_MB:-8}" --spec "workers=2" \
  >"$WORK/load.json" 2>"$WORK/load.log"
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("  %(new_keys)d objects, %(overwrites)d updates, %(deletes)d deletes, revision %(revision)d" % d)' "$WORK/load.json"

# the objects the demo follows, written as kube-apiserver writes them
POD=/registry/pods/shop/frontend-7d9c5b8f6d-x2kqj
objects() { # objects STEP: put (or delete) the demo objects for one step
  "$PY" - "$ADDR:2379" "$1" <<'EOF'
import random, sys
sys.path.insert(0, "tools/k8s")
import etcd3
import make_k8s_values as k8s
host, port = sys.argv[1].split(":")
step = sys.argv[2]
import os
c = etcd3.client(host=host, port=int(port), ca_cert=os.environ["LOAD_CACERT"],
                 cert_cert=os.environ["LOAD_CERT"], cert_key=os.environ["LOAD_KEY"])
pod = k8s.key_for("Pod", "frontend-7d9c5b8f6d-x2kqj", "shop")
if step == "create":
    c.put(pod, k8s.encode("Pod", "frontend-7d9c5b8f6d-x2kqj", "shop", rng=random.Random(1)))
    c.put(k8s.key_for("Pod", "backend-5f8d6c-abcde", "shop"),
          k8s.encode("Pod", "backend-5f8d6c-abcde", "shop", rng=random.Random(2)))
    c.put(k8s.key_for("ConfigMap", "frontend-config", "shop"),
          k8s.encode("ConfigMap", "frontend-config", "shop", rng=random.Random(3)))
    c.put(k8s.key_for("Node", "worker-0.example.internal"),
          k8s.encode("Node", "worker-0.example.internal", rng=random.Random(4)))
    c.put(k8s.key_for("Secret", "db-password", "shop"),
          k8s.encrypt_like(k8s.encode("Secret", "db-password", "shop", rng=random.Random(5)), "aescbc", "key1"))
    c.put(k8s.key_for("Widget", "shop-widget", "shop", group="example.com", plural="widgets"),
          k8s.encode_cr_json("Widget", "shop-widget", "shop", group="example.com", rng=random.Random(6)))
elif step == "update":
    c.put(pod, k8s.encode("Pod", "frontend-7d9c5b8f6d-x2kqj", "shop", size_hint=3000, rng=random.Random(1)))
elif step == "accident":
    c.delete(pod)
    c.put(k8s.key_for("Pod", "frontend-7d9c5b8f6d-q9w8e", "shop"),
          k8s.encode("Pod", "frontend-7d9c5b8f6d-q9w8e", "shop", rng=random.Random(7)))
    c.put(k8s.key_for("ConfigMap", "frontend-config", "shop"),
          k8s.encode("ConfigMap", "frontend-config", "shop", size_hint=2000, rng=random.Random(3)))
EOF
}
objects create
objects update
say "the cluster, as etcdctl would show it"
run "$CPR" member list --endpoints "$EPS"
run "$CPR" endpoint status --endpoints "$EPS"
say "backup 1: cpr backup (a healthy follower; SHA-256 checked while streaming, then verified)"
run "$CPR" backup "$WORK/backups" --resources "$RES" --endpoints "$EPS"
B1=$(ls "$WORK"/backups/snapshot_*.db | tail -1)
say "an accident: Pod $POD is deleted (and a ConfigMap changes, a new Pod appears)"
objects accident
say "backup 2: cpr backup -w json; then etcd is stopped: everything below is offline"
printf '$ %s\n' "$CPR backup $WORK/backups --resources $RES --endpoints $EPS -w json"
"$CPR" backup "$WORK/backups" --resources "$RES" --endpoints "$EPS" -w json |
  "$PY" -c 'import json, sys; d = json.load(sys.stdin); print("  %s: revision %d, hashKV %d, from %s" % (d["stamp"], d["revision"], d["hashKV"], d["member"]["name"]))'
run ls -l "$WORK/backups"
B2=$(ls "$WORK"/backups/snapshot_*.db | tail -1)
stop_etcd

say "status: what the backup holds (hash, revision, totalKey, totalSize are etcdctl's; the rest is CPR's)"
run "$CPR" snapshot status "$B2"
say "the same four numbers from etcdctl, for comparison"
run etcdctl snapshot status "$B2" -w table
say "verify: SHA-256 trailer, every bbolt page, the etcd schema"
run "$CPR" snapshot verify "$B2"
say "ls: the Pods of namespace shop in backup 2, with their kind/namespace/name decoded from the values"
run "$CPR" snapshot ls "$B2" /registry/pods/shop/
say "get -w yaml: the deleted Pod is still in backup 1 (-w raw gives the exact bytes for etcdctl put)"
run "$CPR" snapshot get "$B1" "$POD" -w yaml | sed -n '1,40p'
say "history: every record of that Pod still in backup 2: created, updated, deleted"
run "$CPR" snapshot history "$B2" "$POD"
say "diff: what changed between backup 1 and backup 2 (under /registry/)"
run "$CPR" snapshot diff "$B1" "$B2" /registry/
say "restore: backup 1 (taken before the accident) into a new member, natively (no etcdctl)"
STAMP1=$(basename "$B1" .db)
STAMP1=${STAMP1#snapshot_}
R_INITIAL=r0=https://$ADDR:2380
run "$CPR" snapshot restore "$WORK/backups" --stamp "$STAMP1" --name r0 \
  --initial-cluster "$R_INITIAL" --initial-advertise-peer-urls "https://$ADDR:2380" \
  --initial-cluster-token cpr-demo-restored --data-dir "$WORK/restored-r0" \
  --bump-revision 1000 --mark-compacted
start_member r0 "$ADDR" "$WORK/restored-r0" "$R_INITIAL" "$PKI/m0"
for _ in $(seq 300); do
  etcdctl --endpoints "https://$ADDR:2379" --dial-timeout=1s endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
say "the restored member serves: the Pod deleted after backup 1 is back (its revisions start 1000 ahead, older watches are compacted)"
run "$CPR" member list --endpoints "https://$ADDR:2379"
run etcdctl --endpoints "https://$ADDR:2379" get "$POD" --keys-only
run "$CPR" endpoint status --endpoints "https://$ADDR:2379"
stop_etcd
say "done; removing $WORK"
