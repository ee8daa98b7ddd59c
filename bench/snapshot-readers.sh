#!/usr/bin/env bash
# usage: snapshot-readers.sh SNAP [SNAP_B] [--record]
#
# The offline readers at scale, in one run, on one snapshot (make one with
# make-snapshot.sh 2048 OUT.db): time (hyperfine, warm page cache) and peak
# RSS (/usr/bin/time -f %M, one run) of
#   etcdctl snapshot status  vs  cpr snapshot status (table, and -w json,
#     which adds hashKV: a second pass), cpr snapshot hashkv
#   cpr snapshot ls (table, --keys-only, -w json, -w json --keys-only, -w yaml --keys-only)
#   cpr snapshot diff SNAP SNAP_B (table and -w json; SNAP_B default: SNAP itself)
#   cpr snapshot history KEY, cpr snapshot get KEY (a Pod in the middle of the file)
# etcdctl has no offline equivalent of ls, diff, history or get (its `get`
# needs a running member): those rows have none. Each row also shows its
# time as a multiple of cpr status (the acceptance goal: ls and diff <= 5x,
# every reader <= 128 MB). With BASE_CPR=path (e.g. the main branch's
# build) every cpr row is also timed with that binary, for before/after.
# Prints a markdown table; with --record also appends it to bench/RESULTS.md.
#
# Env: CPR (default build/cpr), BASE_CPR (none), RUNS (default 3),
#      BASE_RUNS (default 1: the old readers take ~10 s on 2 GB).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"

parse_record_args 19 "$@"
if [ ${#ARGS[@]} -lt 1 ] || [ ${#ARGS[@]} -gt 2 ]; then
  sed -n '2p' "$0" >&2
  exit 2
fi
SNAP=$(readlink -f "${ARGS[0]}")
SNAP_B=$(readlink -f "${ARGS[1]:-${ARGS[0]}}")
[ -f "$SNAP" ] && [ -f "$SNAP_B" ] || die "no such snapshot: $SNAP or $SNAP_B"
CPR=$(readlink -f "${CPR:-$REPO/build/cpr}")
[ -x "$CPR" ] || die "no cpr binary at $CPR"
BASE_CPR=${BASE_CPR:+$(readlink -f "$BASE_CPR")}
RUNS=${RUNS:-3}
BASE_RUNS=${BASE_RUNS:-1}

KEY=$("$CPR" snapshot ls "$SNAP" /registry/pods/ --keys-only -w json |
  "$PY" -c 'import base64,json,sys; k=json.load(sys.stdin)["kvs"]; sys.stdout.buffer.write(base64.b64decode(k[len(k)//2]["key"]))')
[ -n "$KEY" ] || die "no /registry/pods/ key found in $SNAP"

W=$(mktemp -d "${TMPDIR:-/tmp}/readers.XXXXXX")
trap 'rm -rf "$W"' EXIT
printf -v S '%q' "$SNAP"
printf -v SB '%q' "$SNAP_B"
printf -v K '%q' "$KEY"
# name | etcdctl equivalent | arguments after `cpr snapshot` (or a whole etcdctl command)
CMDS=(
  "etcdctl status|-|$ETCDCTL snapshot status $S -w json"
  "status|etcdctl snapshot status|status $S"
  "status -w json|etcdctl snapshot status -w json (no hashKV)|status $S -w json"
  "hashkv|none (etcdctl endpoint hashkv needs a member)|hashkv $S"
  "ls|none (offline)|ls $S"
  "ls --keys-only|none (offline)|ls $S --keys-only"
  "ls -w json|none (offline)|ls $S -w json"
  "ls -w json --keys-only|none (offline)|ls $S -w json --keys-only"
  "ls -w yaml --keys-only|none (offline)|ls $S -w yaml --keys-only"
  "diff|none (offline)|diff $S $SB"
  "diff -w json|none (offline)|diff $S $SB -w json"
  "history KEY|none (offline)|history $S $K"
  "get KEY|none (needs a member)|get $S $K -w raw"
)

cat "$SNAP" "$SNAP_B" >/dev/null # warm
: >"$W/rows.tsv"
i=0
for c in "${CMDS[@]}"; do
  IFS='|' read -r name equiv args <<<"$c"
  for bin in "$CPR" ${BASE_CPR:+"$BASE_CPR"}; do
    [ "$name" = "etcdctl status" ] && [ "$bin" != "$CPR" ] && continue
    printf -v cmd '%q snapshot %s' "$bin" "$args"
    [ "$name" = "etcdctl status" ] && cmd=$args
    runs=$RUNS
    [ "$bin" = "$CPR" ] || runs=$BASE_RUNS
    i=$((i + 1))
    bash -c "$cmd" >/dev/null 2>"$W/err" ||
      die "$name failed: $cmd: $(tail -1 "$W/err")"
    log "hyperfine: $name ($bin, $runs runs)"
    hyperfine --style basic --runs "$runs" -i --export-json "$W/hf-$i.json" "$cmd" >&2
    rss=$(/usr/bin/time -f %M -o "$W/time-$i.txt" bash -c "exec $cmd" >/dev/null 2>&1; tail -1 "$W/time-$i.txt")
    printf '%s\t%s\t%s\t%s\t%s\n' "$i" "$name" "$equiv" "$bin" "$rss" >>"$W/rows.tsv"
  done
done

TABLE=$("$PY" - "$W" "$SNAP" "$SNAP_B" "$CPR" "$KEY" "$REPO" <<'EOF'
import json, os, subprocess, sys, time
w, snap, snap_b, cpr, key, repo = sys.argv[1:7]
rows, best = [], {}
for line in open(os.path.join(w, "rows.tsv")):
    i, name, equiv, binary, rss = line.rstrip("\n").split("\t")
    r = json.load(open(os.path.join(w, "hf-%s.json" % i)))["results"][0]
    best[(name, binary)] = r["min"]
    rows.append((name, equiv, binary, len(r["times"]), r["mean"], r["min"], int(rss or 0) / 1024))
status = best.get(("status", cpr))
def who(b):
    return "this" if b == cpr else "base"
def rev():
    r = subprocess.run(["git", "-C", repo, "describe", "--always", "--dirty"],
                       capture_output=True, text=True).stdout.strip()
    return r or "?"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = ["### snapshot readers: %s, %.1f MiB; diff against %s, %.1f MiB (%s)" % (
           os.path.basename(snap), os.path.getsize(snap) / 2**20, os.path.basename(snap_b),
           os.path.getsize(snap_b) / 2**20, time.strftime("%Y-%m-%d %H:%M")),
       "", "%d cores (%s), load %s; cpr %s (%s); history/get key %s" % (
           os.cpu_count(), cpu, open("/proc/loadavg").read().split()[0], rev(), cpr, key),
       "", "| command | binary | etcdctl equivalent | runs | mean s | min s | min / cpr status | peak RSS MiB |",
       "|---|---|---|---|---|---|---|---|"]
for name, equiv, binary, n, mean, mn, rss in rows:
    ratio = "%.1fx" % (mn / status) if status and name != "etcdctl status" else "-"
    out.append("| %s | %s | %s | %d | %.3f | %.3f | %s | %.1f |" % (
        name, "etcdctl" if name == "etcdctl status" else who(binary), equiv, n, mean, mn, ratio, rss))
print("\n".join(out))
EOF
)
show_table "$TABLE"
