#!/usr/bin/env bash
# usage: grow-snapshot.sh IN.db TARGET_MB OUT.db [KEYS_SPEC]
#
# Makes a bigger snapshot from an existing one, much faster than
# make-snapshot.sh from empty (at 5 GB etcd writes small objects at ~1 MiB/s
# on a shared machine; 8 GB from empty takes hours): restores IN.db with
# CPR's native restore into a throwaway data dir, starts a single-member etcd
# on it (127.0.0.1, ports GROW_PORT_BASE and +1, default 25910/25911, 8 GiB
# quota, 16 MiB requests), loads it with load_etcd.py until the backend is
# about TARGET_MB MiB (stay under the 8 GiB quota: no NOSPACE alarm), takes
# `etcdctl snapshot save OUT.db`, stops etcd by its PID and deletes the data
# dir. Writes OUT.db.meta.json (how it was made, the load summary, etcdctl's
# snapshot status).
#
# KEYS_SPEC: load_etcd.py overrides; the default adds mostly large values
#   (p_large=0.5: configmaps/secrets of 64 KB..1 MB), no compaction, and a
#   seed other than make-snapshot.sh's, so the new keys do not collide with
#   IN.db's.
# Env: CPR (default build/cpr beside bench/), BENCH_ROOT (default /tmp/cprbench).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

need_args 3 4 $#
IN=$1
TARGET_MB=$2
OUT=$3
SPEC=${4:-p_large=0.5,compact=0,leases=4,seed=7}
CPR=${CPR:-$HERE/../build/cpr}
BASE=${GROW_PORT_BASE:-25910}
CPORT=$BASE
PPORT=$((BASE + 1))
EP=http://127.0.0.1:$CPORT
DIR=$BENCH_ROOT/grow-$$
[ -f "$IN" ] || die "$IN: no such snapshot"
[ -x "$CPR" ] || die "$CPR: no cpr binary (set CPR)"
mkdir -p "$BENCH_ROOT" "$(dirname "$OUT")"
rm -rf "$DIR"
trap 'stop_all_started; rm -rf "$DIR"' EXIT

log "restoring $IN into $DIR with $CPR"
t0=$(now)
"$CPR" snapshot restore "$IN" --name grow --data-dir "$DIR" \
  --initial-cluster "grow=http://127.0.0.1:$PPORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster-token cprbench-grow >&2
T_RESTORE=$(since "$t0")

log "starting throwaway etcd on $EP"
CLUSTER_TOKEN=cprbench-grow start_load_etcd grow "$DIR" "$CPORT" "$PPORT" existing
ETCD_PID=$STARTED_PID
wait_healthy "$EP" 600 >/dev/null
load_and_save "$CPORT" "$TARGET_MB" "$SPEC" "$OUT" "$ETCD_PID"
rm -rf "$DIR"

"$PY" - "$IN" "$OUT" "$TARGET_MB" "$SPEC" "$T_RESTORE" "$T_LOAD" "$T_SAVE" <<'EOF'
import json, os, sys
src, out, target, spec = sys.argv[1:5]
t_restore, t_load, t_save = map(float, sys.argv[5:8])
meta = {"snapshot": out, "snapshot_bytes": os.path.getsize(out),
        "how": ("bench/grow-snapshot.sh %s %s %s '%s': %s restored with `cpr snapshot "
                "restore` into a single-member etcd 3.4, loaded with load_etcd.py (that "
                "spec) until the backend was ~%s MiB, then `etcdctl snapshot save`; every "
                "key and revision of the source is kept below the new ones"
                % (src, target, out, spec, src, target)),
        "source": src,
        "make_seconds": {"restore": t_restore, "load": t_load, "snapshot_save": t_save},
        "load": json.load(open(out + ".load.json")),
        "endpoint_status": json.load(open(out + ".endpoint.json")),
        "snapshot_status": json.load(open(out + ".status.json"))}
json.dump(meta, open(out + ".meta.json", "w"), indent=1)
ss = meta["snapshot_status"]
print("snapshot %s: %.1f MiB, keys=%d revision=%d (restore %.0fs, load %.0fs, save %.1fs)" % (
    out, meta["snapshot_bytes"] / 2**20, ss["totalKey"], ss["revision"], t_restore, t_load, t_save))
EOF
rm -f "$OUT.load.json" "$OUT.endpoint.json" "$OUT.status.json"
