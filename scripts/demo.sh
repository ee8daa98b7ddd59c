#!/usr/bin/env bash
# usage: scripts/demo.sh
#
# CPR's main job, for now: read an etcd backup offline.
#   1. installs what is needed (scripts/setup.sh) and builds cpr (Release, build/);
#   2. starts one etcd 3.4 on a free loopback address (127.0.0.100+, ports 2379/2380
#      as on a real host), loads Kubernetes-like data (real apiserver value formats),
#      takes a backup with `etcdctl snapshot save`, changes a few objects (a Pod is
#      updated, then deleted by accident), takes a second backup, stops etcd;
#   3. shows `cpr snapshot status, verify, ls, get -w yaml, history, diff` on them.
# Everything lives in a temp dir that is removed at the end; etcd is stopped by its PID.
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
ETCD_PID=
cleanup() {
  if [ -n "$ETCD_PID" ] && kill -0 "$ETCD_PID" 2>/dev/null; then
    kill "$ETCD_PID" 2>/dev/null || true
    wait "$ETCD_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# a loopback address whose 2379/2380 are free (as a master host would use them)
ADDR=$("$PY" - <<'EOF'
import socket
def free(a, p):
    s = socket.socket()
    try:
        s.bind((a, p)); return True
    except OSError:
        return False
    finally:
        s.close()
for i in range(100, 200):
    a = "127.0.0.%d" % i
    if free(a, 2379) and free(a, 2380):
        print(a); break
EOF
)
[ -n "$ADDR" ] || { echo "demo: no free 127.0.0.x address with ports 2379/2380" >&2; exit 1; }
EP=http://$ADDR:2379

say "starting etcd $(etcd --version | head -1 | awk '{print $3}') on $EP (data in $WORK)"
etcd --name demo --data-dir "$WORK/data" \
  --listen-client-urls "$EP" --advertise-client-urls "$EP" \
  --listen-peer-urls "http://$ADDR:2380" --initial-advertise-peer-urls "http://$ADDR:2380" \
  --initial-cluster "demo=http://$ADDR:2380" --initial-cluster-token cpr-demo \
  --max-request-bytes 16777216 --max-txn-ops 100000 \
  --logger zap --log-level warn >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 100); do
  etcdctl --endpoints "$EP" --dial-timeout=1s endpoint health >/dev/null 2>&1 && break
  kill -0 "$ETCD_PID" 2>/dev/null || { cat "$WORK/etcd.log" >&2; exit 1; }
  sleep 0.1
done
etcdctl --endpoints "$EP" endpoint health

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
say "backup 1: etcdctl snapshot save"
etcdctl --endpoints "$EP" snapshot save "$WORK/backup-1.db" 2>/dev/null
say "an accident: Pod $POD is deleted (and a ConfigMap changes, a new Pod appears)"
objects accident
say "backup 2: etcdctl snapshot save; then etcd is stopped: everything below is offline"
etcdctl --endpoints "$EP" snapshot save "$WORK/backup-2.db" 2>/dev/null
kill "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null || true
ETCD_PID=
B1=$WORK/backup-1.db
B2=$WORK/backup-2.db

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
