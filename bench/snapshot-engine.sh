#!/usr/bin/env bash
# usage: snapshot-engine.sh SIZE_MB [--record]
#
# The snapshot engine side by side with etcdctl, in one run, on one
# Kubernetes-like snapshot of about SIZE_MB MiB made by real etcd 3.4
# (make-snapshot.sh; cached as $BENCH_ROOT/snap-SIZE_MB.db, reused):
#   etcdctl snapshot status   vs  cpr snapshot status     warm page cache
#   etcdctl snapshot status   vs  cpr snapshot status     cold (drop_caches before every run)
#   cpr snapshot verify, cpr snapshot get KEY (one key), cpr snapshot ls --keys-only   warm
#   etcdctl snapshot restore  vs  cpr snapshot restore  vs  cp + sync   warm (output removed
#                                                                       before every run)
# timed with hyperfine, plus the peak RSS of each (one run under /usr/bin/time -f %M).
# Prints a markdown table; with --record also appends it to bench/RESULTS.md.
#
# Env: CPR (default build/cpr), RUNS (warm runs, default 5), COLD_RUNS (3),
#      BENCH_ROOT (/tmp/cprbench), MK_PORT_BASE (free pair picked if unset),
#      SNAP=FILE to use a given snapshot instead of making one.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"

parse_record_args 16 "$@"
if [ ${#ARGS[@]} -ne 1 ] || ! [[ ${ARGS[0]} =~ ^[0-9]+$ ]]; then
  sed -n '2p' "$0" >&2
  exit 2
fi
SIZE_MB=${ARGS[0]}
CPR=$(readlink -f "${CPR:-$REPO/build/cpr}")
[ -x "$CPR" ] || die "no cpr binary at $CPR (build it: cmake -S . -B build && cmake --build build)"
RUNS=${RUNS:-5}
COLD_RUNS=${COLD_RUNS:-3}
mkdir -p "$BENCH_ROOT"

# a free client/peer port pair on 127.0.0.1 for the throwaway etcd
free_base() {
  "$PY" - <<'EOF'
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
    p = random.randrange(25000, 25998, 2)
    if free(p) and free(p + 1):
        print(p); break
EOF
}

SNAP=${SNAP:-$BENCH_ROOT/snap-$SIZE_MB.db}
if [ ! -f "$SNAP" ] || [ ! -f "$SNAP.meta.json" ]; then
  log "making $SNAP (~$SIZE_MB MiB, real etcd; cached for later runs)"
  rm -f "$SNAP" "$SNAP.meta.json"
  MK_PORT_BASE=${MK_PORT_BASE:-$(free_base)} "$HERE/make-snapshot.sh" "$SIZE_MB" "$SNAP" >&2
fi
SNAP=$(readlink -f "$SNAP")

# one key in the middle of the Pods (the key bucket is ordered by revision, so get scans)
KEY=$("$CPR" snapshot ls "$SNAP" /registry/pods/ --keys-only --limit 2000 -w json |
  "$PY" -c 'import base64,json,sys; k=json.load(sys.stdin)["kvs"]; sys.stdout.buffer.write(base64.b64decode(k[len(k)//2]["key"]))')
[ -n "$KEY" ] || die "no /registry/pods/ key found in $SNAP"

DROP='sync; echo 3 > /proc/sys/vm/drop_caches'
COLD=1
if ! { [ -w /proc/sys/vm/drop_caches ] && bash -c "$DROP" 2>/dev/null; }; then
  log "cannot drop the page cache (needs root): cold runs skipped"
  COLD=0
fi

W=$(mktemp -d "$BENCH_ROOT/engine.XXXXXX")
trap 'rm -rf "$W"' EXIT
q() { printf '%q' "$1"; }
S=$(q "$SNAP")
C=$(q "$CPR")
K=$(q "$KEY")
# name | cache | command (restore rows write into $W/out, emptied before every run)
O=$(q "$W/out")
RESTORE_FLAGS="--name m1 --initial-cluster m1=http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380"
CMDS=(
  "etcdctl status|warm|$ETCDCTL snapshot status $S -w json"
  "cpr status|warm|$C snapshot status $S -w json"
  "cpr verify|warm|$C snapshot verify $S"
  "cpr get|warm|$C snapshot get $S $K -w raw"
  "cpr ls --keys-only|warm|$C snapshot ls $S --keys-only"
  "cpr ls -w json|warm|$C snapshot ls $S -w json"
  "cp + sync|warm|cp $S $O && sync $O"
  "etcdctl restore|warm|$ETCDCTL snapshot restore $S --data-dir $O $RESTORE_FLAGS"
  "cpr restore|warm|$C snapshot restore $S --data-dir $O $RESTORE_FLAGS"
)
if [ "$COLD" = 1 ]; then
  CMDS+=("etcdctl status|cold|$ETCDCTL snapshot status $S -w json"
    "cpr status|cold|$C snapshot status $S -w json")
fi

log "snapshot $SNAP ($(file_mb "$SNAP") MiB); key $KEY; cpr $CPR"
# every command must work before it is timed
for c in "${CMDS[@]}"; do
  IFS='|' read -r name cache cmd <<<"$c"
  rm -rf "$W/out"
  bash -c "$cmd" >/dev/null 2>&1 || die "$name failed: $cmd"
done

i=0
: >"$W/rss.tsv"
for c in "${CMDS[@]}"; do
  IFS='|' read -r name cache cmd <<<"$c"
  i=$((i + 1))
  if [ "$cache" = cold ]; then prep=$DROP runs=$COLD_RUNS warm=0; else prep="rm -rf $O" runs=$RUNS warm=1; fi
  log "hyperfine: $name ($cache, $runs runs)"
  hyperfine --style basic --runs "$runs" --warmup "$warm" --prepare "$prep" \
    --command-name "$name ($cache)" --export-json "$W/hf-$i.json" "$cmd" >&2
  bash -c "$prep" >/dev/null 2>&1
  rss=$(/usr/bin/time -f %M -o "$W/time-$i.txt" bash -c "exec $cmd" >/dev/null 2>&1; tail -1 "$W/time-$i.txt")
  printf '%s\t%s\t%s\t%s\n' "$i" "$name" "$cache" "$rss" >>"$W/rss.tsv"
done

TABLE=$("$PY" - "$W" "$SNAP" "$CPR" "$KEY" "$REPO" <<'EOF'
import json, os, subprocess, sys, time
w, snap, cpr, key, repo = sys.argv[1:6]
rows, mean = [], {}
for line in open(os.path.join(w, "rss.tsv")):
    i, name, cache, rss = line.rstrip("\n").split("\t")
    r = json.load(open(os.path.join(w, "hf-%s.json" % i)))["results"][0]
    mean[(name, cache)] = r["mean"]
    rows.append("| %s | %s | %d | %.3f | %.3f | %.3f | %.1f |" % (
        name, cache, len(r["times"]), r["mean"], r["min"], r["max"], int(rss or 0) / 1024))
def rev():
    try:
        r = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                           capture_output=True, text=True).stdout.strip()
        return "%s (%s)" % (r or "?", cpr)
    except OSError:
        return cpr
mem = [l for l in open("/proc/meminfo") if l.startswith("MemTotal")][0].split()[1]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = ["### snapshot engine: %s, %.1f MiB (%s)" % (os.path.basename(snap), os.path.getsize(snap) / 2**20,
                                                   time.strftime("%Y-%m-%d %H:%M")),
       "", "%d cores (%s), %.0f GiB RAM, load %s; cpr %s; get key %s" % (
           os.cpu_count(), cpu, int(mem) / 2**20, open("/proc/loadavg").read().split()[0], rev(), key),
       "", "| command | page cache | runs | mean s | min s | max s | peak RSS MiB |",
       "|---|---|---|---|---|---|---|"] + rows + [""]
for cache, goal in (("warm", 2), ("cold", 5)):
    a, b = mean.get(("etcdctl status", cache)), mean.get(("cpr status", cache))
    if a and b:
        out.append("- status %s: cpr %.1fx faster than etcdctl (goal >= %dx)" % (cache, a / b, goal))
a, b, f = mean.get(("etcdctl restore", "warm")), mean.get(("cpr restore", "warm")), mean.get(("cp + sync", "warm"))
if a and b:
    out.append("- restore: cpr %.1fx faster than etcdctl (goal >= 3x); %.2fx the time of cp + sync (aim <= 1.5x)" % (a / b, b / f if f else 0))
if ("cpr get", "warm") in mean:
    out.append("- get one key (warm): %.3f s (goal <= 0.5 s on ~2 GB)" % mean[("cpr get", "warm")])
print("\n".join(out))
EOF
)
show_table "$TABLE"
