#!/usr/bin/env bash
# usage: backup.sh [SIZE_MB] [--record]
#
# `cpr backup` (stream + SHA-256 check + full verify + manifest, fsynced)
# against `etcdctl snapshot save` (stream + fsync, no verification) from the
# same follower of a 3-member etcd 3.4 cluster holding ~SIZE_MB MiB
# (default 1024): a Kubernetes-like snapshot made by real etcd
# (make-snapshot.sh; cached as $BENCH_ROOT/snap-SIZE_MB.db) is restored into
# three members on 127.0.0.1, which are started, timed, and stopped by PID.
# Each tool runs RUNS times, alternating (default 1: one run, as the issue
# asks); wall time and peak RSS of each run, cpr's own stream/verify split.
# Prints a markdown table; with --record also appends it to bench/RESULTS.md.
# On demand only, never from the test suite (minutes, GBs of disk).
#
# Env: CPR (default build/cpr), RUNS (1), BENCH_ROOT (/tmp/cprbench),
#      SNAP=FILE to use a given snapshot instead of making one.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"

parse_record_args 16 "$@"
SIZE_MB=${ARGS[0]:-1024}
[[ $SIZE_MB =~ ^[0-9]+$ ]] || { sed -n '2p' "$0" >&2; exit 2; }
CPR=$(readlink -f "${CPR:-$REPO/build/cpr}")
[ -x "$CPR" ] || die "no cpr binary at $CPR (build it: cmake -S . -B build && cmake --build build)"
RUNS=${RUNS:-1}
mkdir -p "$BENCH_ROOT"

# six consecutive free ports on 127.0.0.1 (3 client + 3 peer)
BASE=$("$PY" -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(500):
    p = random.randrange(25100, 25990, 6)
    if all(free(p + i) for i in range(6)):
        print(p); break
')
[ -n "$BASE" ] || die "no six free ports in 25100-25995"

SNAP=${SNAP:-$BENCH_ROOT/snap-$SIZE_MB.db}
if [ ! -f "$SNAP" ]; then
  log "making $SNAP (~$SIZE_MB MiB, real etcd; cached for later runs)"
  MK_PORT_BASE=$BASE "$HERE/make-snapshot.sh" "$SIZE_MB" "$SNAP" >&2
fi
SNAP=$(readlink -f "$SNAP")

W=$(mktemp -d "$BENCH_ROOT/backup.XXXXXX")
trap 'stop_all_started; rm -rf "$W"' EXIT
IC=""
EPS=""
for i in 0 1 2; do
  IC+="${IC:+,}b$i=http://127.0.0.1:$((BASE + 3 + i))"
  EPS+="${EPS:+,}127.0.0.1:$((BASE + i))"
done
log "restoring $SNAP into 3 members"
for i in 0 1 2; do
  "$ETCDCTL" snapshot restore "$SNAP" --data-dir "$W/d$i" --name "b$i" --initial-cluster "$IC" \
    --initial-cluster-token cprbench-backup \
    --initial-advertise-peer-urls "http://127.0.0.1:$((BASE + 3 + i))" >/dev/null 2>&1 ||
    die "etcdctl snapshot restore $SNAP failed"
done
for i in 0 1 2; do
  CLUSTER_TOKEN=cprbench-backup start_etcd "b$i" "$W/d$i" "$((BASE + i))" "$((BASE + 3 + i))" "$IC" new
done
wait_healthy "$EPS" 300 >/dev/null
# the follower both tools read from (cpr picks a follower itself; etcdctl is given one)
FOLLOWER=$("$ETCDCTL" --endpoints "$EPS" endpoint status -w json | "$PY" -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] != s["Status"]["header"]["member_id"]:
        print(s["Endpoint"]); break')
DB=$("$ETCDCTL" --endpoints "$FOLLOWER" endpoint status -w json |
  "$PY" -c 'import json, sys; print(json.load(sys.stdin)[0]["Status"]["dbSize"])')
log "3 members on $EPS, db $((DB / 1048576)) MiB each; follower $FOLLOWER; cpr $CPR"

: >"$W/runs.tsv"
for run in $(seq 1 "$RUNS"); do
  log "run $run/$RUNS: etcdctl snapshot save"
  rm -f "$W/e.db"
  t0=$(now)
  /usr/bin/time -f %M -o "$W/rss" "$ETCDCTL" --endpoints "$FOLLOWER" --command-timeout 1800s \
    snapshot save "$W/e.db" >/dev/null 2>&1 || die "etcdctl snapshot save failed"
  printf 'etcdctl snapshot save\t%s\t%s\t\t\t\n' "$(since "$t0")" "$(tail -1 "$W/rss")" >>"$W/runs.tsv"
  rm -f "$W/e.db"
  log "run $run/$RUNS: cpr backup"
  rm -rf "$W/bk"
  t0=$(now)
  /usr/bin/time -f %M -o "$W/rss" "$CPR" backup "$W/bk" --no-resources --endpoints "$EPS" \
    --command-timeout 60s -w json >"$W/cpr.json" 2>"$W/cpr.err" ||
    die "cpr backup failed: $(cat "$W/cpr.err")"
  T=$(since "$t0")
  SPLIT=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("%.3f\t%.3f\t%s" % (d["streamSeconds"], d["verifySeconds"], d["member"]["endpoint"]))' "$W/cpr.json")
  printf 'cpr backup (verify included)\t%s\t%s\t%s\n' "$T" "$(tail -1 "$W/rss")" "$SPLIT" >>"$W/runs.tsv"
  rm -rf "$W/bk"
done

TABLE=$("$PY" -c '
import collections, os, subprocess, sys, time
runs, snap, db, cpr, repo = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
by = collections.OrderedDict()
rows = []
for line in open(runs):
    name, t, rss, stream, verify, member = line.rstrip("\n").split("\t")
    by.setdefault(name, []).append(float(t))
    notes = "stream %s s, verify %s s, from %s" % (stream, verify, member) if stream else ""
    rows.append("| %s | %.3f | %.1f | %.0f | %s |" % (name, float(t), db / 2**20 / float(t),
                                                      int(rss or 0) / 1024, notes))
rev = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"], capture_output=True,
                     text=True).stdout.strip() or "?"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = ["### backup: 3-member etcd 3.4, %.0f MiB db (%s, %s)" % (
           db / 2**20, os.path.basename(snap), time.strftime("%Y-%m-%d %H:%M")),
       "", "%d cores (%s), load %s; cpr %s (%s)" % (
           os.cpu_count(), cpu, open("/proc/loadavg").read().split()[0], rev, cpr),
       "", "| tool | wall s | MiB/s | peak RSS MiB | notes |", "|---|---|---|---|---|"] + rows + [""]
e, c = by.get("etcdctl snapshot save"), by.get("cpr backup (verify included)")
if e and c:
    me, mc = sum(e) / len(e), sum(c) / len(c)
    out.append("- cpr backup takes %.2fx the time of etcdctl snapshot save (goal <= 1.0, with "
               "verification)" % (mc / me))
print("\n".join(out))
' "$W/runs.tsv" "$SNAP" "$DB" "$CPR" "$REPO")
show_table "$TABLE"
