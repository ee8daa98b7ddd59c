#!/usr/bin/python3
"""Load a Kubernetes-like data set into a running etcd until its backend
(db) reaches a target size.

usage: load_etcd.py --endpoint 127.0.0.1:PORT --target-mb N [--spec k=v,k=v...]

Used by make-snapshot.sh; it can also be run on its own against any etcd
that you started yourself.  Needs python3-etcd3 (Debian package), so it runs
with /usr/bin/python3 rather than any pyenv python.

The mixture (all overridable with --spec, see DEFAULT_SPEC):
  * many small objects, 1-4 KB, key /registry/<resource>/<ns>/<name>;
    a fraction `proto` (default 0.8) of the built-in objects is stored the
    way kube-apiserver stores them: "k8s\x00" + runtime.Unknown protobuf with
    a real ObjectMeta (tools/k8s/make_k8s_values.py); the rest, and every
    object when proto=0, are JSON-ish text with random base64 filler;
    custom resources ("customresources", kind Widget) stay JSON (Go-style
    encoding/json of the object when proto>0, as the apiextensions server
    writes them);
  * some large values (configmaps/secrets) between 64 KB and ~1 MB;
  * overwrites of existing keys (so there are several revisions of a key);
  * deletes of existing keys (so there are tombstones);
  * a few leases (TTL 1 h) with events and coordination leases attached;
  * optional compaction at the revision reached at compact_at * target,
    so that history and tombstones written after it are still there.
Work is done by several processes, each putting batched txns (many puts
per request) over its own gRPC connection.
"""
import argparse
import base64
import collections
import json
import multiprocessing as mp
import os
import random
import sys
import time

import etcd3

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "k8s"))
sys.dont_write_bytecode = True   # leave no __pycache__ in the checkout
try:
    import make_k8s_values as k8s
except ImportError:          # only needed when proto > 0
    k8s = None

def tls_args():
    """Mutual TLS from LOAD_CACERT / LOAD_CERT / LOAD_KEY (unset: plain)."""
    ca, cert, key = (os.environ.get(v) for v in ("LOAD_CACERT", "LOAD_CERT", "LOAD_KEY"))
    return {"ca_cert": ca, "cert_cert": cert, "cert_key": key} if ca else {}


DEFAULT_SPEC = {
    "txn": 0,                # 0: one request per key write, pipelined (realistic:
                             #    every write gets its own revision, like k8s);
                             # 1: many puts per txn (faster, few revisions)
    "window": 128,           # txn=0: requests in flight per worker
    "workers": 3,            # loader processes (2 cores: etcd + loaders)
    "batch_kb": 1024,        # bytes of values per batch/txn (approx)
    "batch_ops": 1000,       # max ops per batch/txn (etcd started with bigger --max-txn-ops)
    "p_large": 0.004,        # fraction of new objects that are large (64 KB..1 MB)
    "size_scale": 1.0,       # small objects' sizes times this (0.05: 50-200 B values,
                             # the many-tiny-records shape of leases and events)
    "p_update": 0.20,        # fraction of ops that overwrite an existing key
    "p_delete": 0.05,        # fraction of ops that delete an existing key
    "p_event": 0.10,         # fraction of new small objects that are leased events
    "leases": 16,            # number of leases granted (TTL lease_ttl)
    "lease_ttl": 3600,
    "namespaces": 300,
    "compact": 1,            # 1: compact at compact_at*target (physical)
    "compact_at": 0.85,
    "proto": 0.8,            # fraction of built-in objects stored as k8s\0 protobuf
                             # (0: all JSON-ish, the loader's behaviour before)
    "seed": 42,
}

def small_size(size, spec):
    """A small object's size, scaled by spec size_scale (at least 40 bytes)."""
    return max(40, int(size * spec["size_scale"]))


# resource -> (relative weight, min bytes, max bytes)
RESOURCES = [
    ("pods", 30, 2500, 4096),
    ("configmaps", 12, 1024, 4096),
    ("secrets", 10, 1024, 3072),
    ("replicasets", 10, 1500, 3500),
    ("deployments", 5, 2000, 4096),
    ("services", 6, 1024, 2048),
    ("endpointslices", 6, 1024, 3072),
    ("serviceaccounts", 6, 1024, 1536),
    ("leases", 5, 1024, 1200),
    ("rolebindings", 5, 1024, 2048),
    ("customresources", 5, 1024, 4096),
]
RES_NAMES = [r[0] for r in RESOURCES]
RES_W = [r[1] for r in RESOURCES]
RES_SIZE = {r[0]: (r[2], r[3]) for r in RESOURCES}
KIND = {"pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret",
        "replicasets": "ReplicaSet", "deployments": "Deployment",
        "services": "Service", "endpointslices": "EndpointSlice",
        "serviceaccounts": "ServiceAccount", "leases": "Lease",
        "rolebindings": "RoleBinding", "customresources": "Widget",
        "events": "Event"}


def parse_spec(s):
    spec = dict(DEFAULT_SPEC)
    if s:
        for part in s.split(","):
            part = part.strip()
            if not part:
                continue
            k, _, v = part.partition("=")
            if k not in spec:
                sys.exit("load_etcd.py: unknown spec key %r (known: %s)"
                         % (k, ",".join(sorted(spec))))
            spec[k] = type(spec[k])(float(v)) if isinstance(spec[k], int) else float(v)
    return spec


def make_value(rng, kind, ns, name, size):
    """JSON-ish k8s object of about `size` bytes with incompressible filler."""
    head = {
        "kind": kind, "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns,
                     "uid": "%08x-%04x-%04x-%04x-%012x" % (
                         rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16),
                         rng.getrandbits(16), rng.getrandbits(48)),
                     "labels": {"app": name.rsplit("-", 2)[0], "tier": "bench"},
                     "annotations": {}},
        "spec": {"filler": ""},
    }
    base = json.dumps(head, separators=(",", ":"))
    need = max(0, size - len(base))
    filler = base64.b64encode(os.urandom(need * 3 // 4 + 3)).decode()[:need]
    return base.replace('"filler":""', '"filler":"%s"' % filler, 1).encode()


def value_for(rng, res, ns, name, size, spec):
    """(value, is_protobuf) for one write of /registry/<res>/<ns>/<name>.
    With proto=0 this draws exactly what the loader drew before the option."""
    p = spec["proto"]
    if p > 0:
        if res == "customresources":
            return k8s.encode_cr_json("Widget", name, ns, size, rng=rng), False
        if rng.random() < p:
            return k8s.encode(KIND[res], name, ns, size, rng=rng), True
    return make_value(rng, KIND.get(res, "Widget"), ns, name, size), False


def worker(wid, endpoint, spec, lease_ids, stop, slow, counters, lock):
    host, port = endpoint.rsplit(":", 1)
    opts = [("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20)]
    cli = etcd3.client(host=host, port=int(port), timeout=60, grpc_options=opts, **tls_args())
    rng = random.Random(spec["seed"] * 1000 + wid)
    live = []          # keys this worker wrote that still exist
    seq = 0
    nput = ndel = nupd = nlarge = nproto = 0
    if spec["txn"]:
        tput = cli.transactions.put
        tdel = cli.transactions.delete
    else:
        rpc = etcd3.etcdrpc
        tput = lambda k, v, lease=None: ("put", rpc.PutRequest(key=k.encode(), value=v, lease=lease or 0))
        tdel = lambda k: ("del", rpc.DeleteRangeRequest(key=k.encode()))
        window = int(spec["window"])
        pending = collections.deque()
        kv = cli.kvstub
    while not stop.is_set():
        ops = []
        used = set()
        nbytes = 0
        # near the target the master sets `slow`: small batches, less overshoot
        batch_bytes = int(spec["batch_kb"]) * 1024 // (16 if slow.is_set() else 1)
        while nbytes < batch_bytes and len(ops) < spec["batch_ops"]:
            r = rng.random()
            if live and r < spec["p_delete"]:
                i = rng.randrange(len(live))
                k = live[i]
                if k in used:
                    continue
                live[i] = live[-1]
                live.pop()
                used.add(k)
                ops.append(tdel(k))
                ndel += 1
                nbytes += 64
                continue
            if live and r < spec["p_delete"] + spec["p_update"]:
                k = live[rng.randrange(len(live))]
                if k in used:
                    continue
                parts = k.split("/")
                res, ns, name = parts[2], parts[3], parts[4]
                lo, hi = RES_SIZE.get(res, (1024, 4096))
                v, isp = value_for(rng, res, ns, name, small_size(rng.randint(lo, hi), spec), spec)
                nproto += isp
                used.add(k)
                ops.append(tput(k, v))
                nupd += 1
                nbytes += len(v) + len(k)
                continue
            seq += 1
            ns = "ns-%03d" % rng.randrange(int(spec["namespaces"]))
            lease = None
            if rng.random() < spec["p_large"]:
                res = rng.choice(["configmaps", "secrets"])
                # skewed towards smaller: 64 KB .. ~1 MB (1000 KiB max)
                size = int(64 * 1024 + (rng.random() ** 2) * (1000 * 1024 - 64 * 1024))
                nlarge += 1
            elif lease_ids and rng.random() < spec["p_event"]:
                res = "events"
                size = small_size(rng.randint(1024, 1500), spec)
                lease = lease_ids[rng.randrange(len(lease_ids))]
            else:
                res = rng.choices(RES_NAMES, RES_W)[0]
                lo, hi = RES_SIZE[res]
                size = small_size(rng.randint(lo, hi), spec)
            # unique per worker/seq, shaped like <app>-<hash>-<hash>
            name = "app%03d-%x-%05x" % (rng.randrange(500), (wid << 28) | seq, rng.getrandbits(20))
            k = "/registry/%s/%s/%s" % (res, ns, name)
            v, isp = value_for(rng, res, ns, name, size, spec)
            nproto += isp
            used.add(k)
            ops.append(tput(k, v, lease=lease) if lease else tput(k, v))
            if res != "events":       # leased events are not updated/deleted by us
                live.append(k)
            nput += 1
            nbytes += len(v) + len(k)
        if spec["txn"]:
            for attempt in range(5):
                try:
                    cli.transaction(compare=[], success=ops, failure=[])
                    break
                except Exception as e:  # transient (e.g. too many requests); retry
                    if attempt == 4:
                        raise
                    print("worker %d: txn error %r, retrying" % (wid, e), file=sys.stderr)
                    time.sleep(0.5)
        else:
            for kind, req in ops:
                f = kv.Put.future(req, 60) if kind == "put" else kv.DeleteRange.future(req, 60)
                pending.append(f)
                if len(pending) >= window:
                    pending.popleft().result()
            if slow.is_set():
                while pending:
                    pending.popleft().result()
        with lock:
            counters[0] += nbytes
            counters[1] += len(ops)
    if not spec["txn"]:
        while pending:
            pending.popleft().result()
    with lock:
        counters[2] += nput
        counters[3] += nupd
        counters[4] += ndel
        counters[5] += nlarge
        counters[6] += len(live)
        counters[7] += nproto


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 usage="load_etcd.py --endpoint 127.0.0.1:PORT --target-mb N [--spec k=v,...]")
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--target-mb", type=float, required=True)
    ap.add_argument("--spec", default="")
    a = ap.parse_args()
    spec = parse_spec(a.spec)
    if not 0 <= spec["proto"] <= 1:
        sys.exit("load_etcd.py: proto must be between 0 and 1")
    if spec["proto"] > 0 and k8s is None:
        sys.exit("load_etcd.py: proto>0 needs tools/k8s/make_k8s_values.py beside bench/")
    target = int(a.target_mb * 1024 * 1024)
    host, port = a.endpoint.rsplit(":", 1)
    cli = etcd3.client(host=host, port=int(port), timeout=60, **tls_args())

    lease_ids = []
    for _ in range(int(spec["leases"])):
        lease_ids.append(cli.lease(int(spec["lease_ttl"])).id)

    stop = mp.Event()
    slow = mp.Event()
    lock = mp.Lock()
    counters = mp.Array("q", 8, lock=False)
    procs = [mp.Process(target=worker, args=(w, a.endpoint, spec, lease_ids, stop, slow, counters, lock))
             for w in range(int(spec["workers"]))]
    t0 = time.time()
    for p in procs:
        p.start()
    compact_rev = None
    last_print = 0
    # physical compaction itself grows the db a few %, so stop a bit earlier
    stop_at = target * (0.95 if spec["compact"] else 1.0)
    while True:
        time.sleep(0.05 if slow.is_set() else 0.2)
        st = cli.maintenancestub.Status(etcd3.etcdrpc.StatusRequest(), 10)
        db = st.dbSize
        now = time.time()
        if spec["compact"] and compact_rev is None and db >= spec["compact_at"] * target:
            compact_rev = st.header.revision
        if now - last_print > float(os.environ.get("LOAD_PRINT_S", "5")):
            last_print = now
            print("  load: %6.0fs db=%7.1f MiB (target %.0f) rev=%d sent=%.0f MiB ops=%d"
                  % (now - t0, db / 2**20, target / 2**20, st.header.revision,
                     counters[0] / 2**20, counters[1]), file=sys.stderr, flush=True)
        if db >= 0.8 * stop_at:
            slow.set()
        if db >= stop_at or any(p.exitcode not in (None, 0) for p in procs):
            break
    stop.set()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        sys.exit("load_etcd.py: a worker failed")
    t_load = time.time() - t0
    st = cli.maintenancestub.Status(etcd3.etcdrpc.StatusRequest(), 10)
    if spec["compact"] and compact_rev:
        tc = time.time()
        cli.compact(compact_rev, physical=True)
        print("  compacted at rev %d (of %d) in %.1fs; db %.1f MiB before compaction"
              % (compact_rev, st.header.revision, time.time() - tc, st.dbSize / 2**20), file=sys.stderr)
    st = cli.maintenancestub.Status(etcd3.etcdrpc.StatusRequest(), 10)
    summary = {
        "load_seconds": round(t_load, 1), "db_size_bytes": st.dbSize,
        "revision": st.header.revision, "compact_revision": compact_rev,
        "value_bytes_sent": counters[0], "ops": counters[1], "new_keys": counters[2],
        "overwrites": counters[3], "deletes": counters[4], "large_values": counters[5],
        "protobuf_values": counters[7],
        "leases": len(lease_ids), "spec": spec,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
