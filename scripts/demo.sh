#!/usr/bin/env bash
# usage: scripts/demo.sh
#
# CPR's main job, for now: back up a 3-member etcd cluster and read the backups offline.
#   1. installs what is needed (scripts/setup.sh) and builds cpr (Release, build/);
#   2. starts a 3-member etcd 3.4 cluster on three free loopback addresses
#      (127.0.0.100+, ports 2379/2380 as on real hosts), loads Kubernetes-like data
#      (real apiserver value formats), shows `cpr member list` and `cpr endpoint status`,
#      takes a backup with `cpr backup` (from a follower: snapshot + an OpenShift-style
#      static-pod-resources tar.gz + manifest, verified), changes a few objects (a Pod is
#      updated, then deleted by accident), takes a second backup, stops etcd;
#   3. shows `cpr snapshot status, verify, ls, get -w yaml, history, diff` on them.
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
EPS=http://${HOSTS[0]}:2379,http://${HOSTS[1]}:2379,http://${HOSTS[2]}:2379
INITIAL=m0=http://${HOSTS[0]}:2380,m1=http://${HOSTS[1]}:2380,m2=http://${HOSTS[2]}:2380

say "starting a 3-member etcd $(etcd --version | head -1 | awk '{print $3}') cluster on ${HOSTS[*]} (data in $WORK)"
for i in 0 1 2; do
  h=${HOSTS[$i]}
  etcd --name "m$i" --data-dir "$WORK/data-m$i" \
    --listen-client-urls "http://$h:2379" --advertise-client-urls "http://$h:2379" \
    --listen-peer-urls "http://$h:2380" --initial-advertise-peer-urls "http://$h:2380" \
    --initial-cluster "$INITIAL" --initial-cluster-token cpr-demo \
    --max-request-bytes 16777216 --max-txn-ops 100000 \
    --logger zap --log-level warn >"$WORK/etcd-m$i.log" 2>&1 &
  ETCD_PIDS+=($!)
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
c = etcd3.client(host=host, port=int(port))
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
say "done; removing $WORK"
