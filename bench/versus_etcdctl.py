#!/usr/bin/python3
"""One table: CPR's runs beside one phase of bench/rto-3member.sh's runs on
the same snapshot (restore-quorum.sh, grow.sh).

    versus_etcdctl.py TITLE SNAPSHOT RTO_RESULTS_JSON RTO_KEY CPR_LABEL ETCDCTL_LABEL RECORD RESULTS_MD SECONDS...

RTO_KEY is the rto-3member.sh column compared ("single_member_rto", "total");
RECORD "--record" appends the table to RESULTS_MD.
"""
import datetime
import json
import os
import statistics
import sys

title, snap, rto, key, cpr_label, base_label, record, results = sys.argv[1:9]
cpr = [float(x) for x in sys.argv[9:]]
base = json.load(open(rto))["summary"][key]["all"]
mc, mb = statistics.median(cpr), statistics.median(base)
lines = [
    "### %s (%s, %.0f MiB), %s" % (title, os.path.basename(snap), os.path.getsize(snap) / 2**20,
                                    datetime.date.today()),
    "",
    "| procedure | runs (s) | median s |",
    "|---|---|---|",
    "| %s | %s | %.2f |" % (cpr_label, ", ".join("%.2f" % x for x in cpr), mc),
    "| %s | %s | %.2f |" % (base_label, ", ".join("%.2f" % x for x in base), mb),
    "",
    "cpr / etcdctl median: %.2fx the time" % (mc / mb),
]
print("\n".join(lines))
if record == "--record":
    with open(results, "a") as f:
        f.write("\n" + "\n".join(lines) + "\n")
