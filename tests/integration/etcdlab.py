"""Shared helpers for CPR's integration tests.

Every test_*.py here is run by CTest as
    /usr/bin/python3 test_x.py --cpr /path/to/cpr
(Debian's python3: python3-etcd3 lives there). The helpers:

  * Etcd: a real single-member etcd 3.4 on 127.0.0.1, free ports found by a
    bind probe, data dir in a temp dir, stopped by its PID (stop(), atexit);
    ctl() runs etcdctl (ETCDCTL_API=3) against it; save() takes a snapshot.
  * Cpr: runs the cpr binary under test and fails the test on a crash
    (signal, exit >= 128, sanitizer report) whatever the expected exit code.
  * kv normalisation so cpr's JSON and etcdctl's JSON compare field by field.
  * main(): parses --cpr, runs unittest (verbose, summary, non-zero on failure).

A missing etcd, etcdctl or cpr is a failure, never a skip.
"""
import argparse
import atexit
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
CPR_PATH = None  # set by main()

_started = []  # Etcd instances still running, stopped at exit


def _stop_all():
    for e in list(_started):
        e.stop()


atexit.register(_stop_all)


def _port_free(port, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_handed_out = set()  # ports free_port_pair returned in this process


def free_port_pair(host="127.0.0.1"):
    """Two consecutive free ports, bind-probed, picked at random in 27000-31999:
    below the ephemeral range (32768+, outgoing connections) and above the
    fixed ports of bench/ (25000-25999) and other tools (24xxx, 26xxx)."""
    rnd = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(500):
        p = rnd.randrange(27000, 32000, 2)
        # A port handed out earlier in this process may not be bound yet
        # (a restored member's peer port): never hand it out twice.
        if p in _handed_out or p + 1 in _handed_out:
            continue
        if _port_free(p, host) and _port_free(p + 1, host):
            _handed_out.update((p, p + 1))
            return p, p + 1
    raise RuntimeError("no free port pair on %s" % host)


class Etcd:
    """One real etcd member on 127.0.0.1. Use as a context manager or call
    stop(); it is also stopped at interpreter exit."""

    def __init__(self, name="lab", extra=(), workdir=None):
        for tool in (ETCD, ETCDCTL):
            if not os.access(tool, os.X_OK):
                raise RuntimeError("%s not found: run scripts/setup.sh (etcd-server, etcd-client)" % tool)
        self.name = name
        self.extra = list(extra)
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cpr-it-")
        self.data = os.path.join(self.workdir, "data-" + name)
        self.proc = None
        self.user = None  # "root:pw" once auth is enabled
        self._client = None
        self.start()

    # -- lifecycle ------------------------------------------------------
    def start(self):
        last = ""
        for attempt in range(5):
            self.cport, self.pport = free_port_pair()
            self.endpoint = "http://127.0.0.1:%d" % self.cport
            peer = "http://127.0.0.1:%d" % self.pport
            self.logpath = os.path.join(self.workdir, "etcd-%s.log" % self.name)
            log = open(self.logpath, "ab")
            self.proc = subprocess.Popen(
                [ETCD, "--name", self.name, "--data-dir", self.data,
                 "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", "%s=%s" % (self.name, peer),
                 "--initial-cluster-token", "cpr-it-%d" % os.getpid(),
                 "--max-txn-ops", "20000", "--max-request-bytes", str(16 << 20),
                 "--quota-backend-bytes", str(4 << 30),
                 "--logger", "zap", "--log-level", "warn", *self.extra],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            _started.append(self)
            if self._wait_healthy(30):
                return
            last = self.tail_log()
            self.stop()
            shutil.rmtree(self.data, ignore_errors=True)
            if "address already in use" not in last:
                break
        raise RuntimeError("etcd did not become healthy; log:\n" + last)

    def _wait_healthy(self, timeout):
        t_end = time.time() + timeout
        while time.time() < t_end:
            if self.proc.poll() is not None:
                return False
            r = subprocess.run([ETCDCTL, "--endpoints", self.endpoint, "--dial-timeout=1s",
                                "--command-timeout=2s", "endpoint", "health"],
                               capture_output=True, env=self._env())
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        """Stop etcd by its PID (SIGTERM, then SIGKILL after 20 s)."""
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in _started:
            _started.remove(self)

    def cleanup(self):
        self.stop()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def tail_log(self, n=4000):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- etcdctl --------------------------------------------------------
    @staticmethod
    def _env():
        return {**os.environ, "ETCDCTL_API": "3"}

    def ctl(self, *args, check=True, user=None, timeout=300):
        """Run etcdctl against this member; returns CompletedProcess (bytes)."""
        cmd = [ETCDCTL, "--endpoints", self.endpoint, "--command-timeout=120s"]
        user = user or self.user
        if user:
            cmd += ["--user", user]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, env=self._env(),
                           timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("etcdctl %s failed (%d): %s" % (
                " ".join(map(str, args)), r.returncode, r.stderr.decode(errors="replace")))
        return r

    def ctl_json(self, *args, **kw):
        return json.loads(self.ctl("-w", "json", *args, **kw).stdout)

    def revision(self):
        return int(self.ctl_json("get", "cpr-it-no-such-key")["header"]["revision"])

    def get_all(self, rev=None, prefix=None, keys_only=False):
        """etcdctl get (all keys, or PREFIX) -w json, at rev (default: latest)."""
        args = ["get"]
        args += ["--prefix", "--", prefix] if prefix is not None else ["--from-key", "--", ""]
        # options before "--"
        opts = []
        if rev is not None:
            opts.append("--rev=%d" % rev)
        if keys_only:
            opts.append("--keys-only")
        return self.ctl_json(*(args[:1] + opts + args[1:]))

    def get_key(self, key, rev=None):
        """etcdctl get KEY -w json (KEY bytes or str) at rev."""
        key = key if isinstance(key, bytes) else key.encode()
        opts = ["--rev=%d" % rev] if rev is not None else []
        # etcdctl takes the key as an argv string: fine for the UTF-8 keys we test with
        return self.ctl_json("get", *opts, "--", key.decode("utf-8", "surrogateescape"))

    def save(self, path, user=None):
        """etcdctl snapshot save PATH (needs --user root:pw once auth is on)."""
        if os.path.exists(path):
            os.unlink(path)
        self.ctl("snapshot", "save", path, user=user)
        return path

    # -- python client (fast bulk writes) -------------------------------
    @property
    def client(self):
        if self._client is None:
            import etcd3
            opts = [("grpc.max_send_message_length", 64 << 20),
                    ("grpc.max_receive_message_length", 64 << 20)]
            kw = {}
            if self.user:
                u, p = self.user.split(":", 1)
                kw = {"user": u, "password": p}
            self._client = etcd3.client(host="127.0.0.1", port=self.cport, timeout=120,
                                        grpc_options=opts, **kw)
        return self._client

    def put(self, key, value, lease=None):
        """Put; returns the revision of the write."""
        import etcd3
        key = key if isinstance(key, bytes) else key.encode()
        value = value if isinstance(value, bytes) else value.encode()
        req = etcd3.etcdrpc.PutRequest(key=key, value=value, lease=lease or 0)
        resp = self.client.kvstub.Put(req, 120, credentials=self.client.call_credentials,
                                      metadata=self.client.metadata)
        return resp.header.revision

    def delete(self, key):
        """Delete one key; returns the revision of the delete."""
        import etcd3
        key = key if isinstance(key, bytes) else key.encode()
        req = etcd3.etcdrpc.DeleteRangeRequest(key=key)
        resp = self.client.kvstub.DeleteRange(req, 120, credentials=self.client.call_credentials,
                                              metadata=self.client.metadata)
        return resp.header.revision

    def put_many(self, items, batch=2000):
        """Put (key, value) pairs, `batch` per txn (one revision per txn)."""
        c = self.client
        items = list(items)
        for i in range(0, len(items), batch):
            ops = [c.transactions.put(k, v) for k, v in items[i:i + batch]]
            ok, _ = c.transaction(compare=[], success=ops, failure=[])
            if not ok:
                raise RuntimeError("txn failed")

    def compact(self, rev):
        self.ctl("compaction", "--physical", str(rev))

    def lease(self, ttl=3600):
        return self.client.lease(ttl).id

    def enable_auth(self, password="rootpw"):
        """root user + a reader role and user, then auth enable; later etcdctl
        calls (and snapshot save) use root."""
        self.ctl("user", "add", "root:%s" % password)
        self.ctl("role", "add", "reader")
        self.ctl("role", "grant-permission", "reader", "read", "/app/", "--prefix=true")
        self.ctl("user", "add", "alice:alicepw")
        self.ctl("user", "grant-role", "alice", "reader")
        self.ctl("auth", "enable")
        self.user = "root:%s" % password
        if self._client is not None:
            self._client.close()
            self._client = None


# ----------------------------------------------------------------------------
# TLS certificates and multi-member clusters (client, backup, member tests)
# ----------------------------------------------------------------------------
def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *args], capture_output=True, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))


class Pki:
    """Test certificates made with the openssl CLI in `workdir`:
      ca, server (SANs IP 127.0.0.1, DNS localhost; serverAuth+clientAuth),
      misnamed (a serving cert from ca for 127.0.0.9 / elsewhere.invalid only),
      client (CN root), other_ca and rogue (a client cert from other_ca),
      expired (a client cert from ca valid only in 2020).
    Each attribute ca/server/client/rogue/expired/other_ca is a dict with
    'cert' and (except the CAs' use as trust roots) 'key' paths."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pki")
        os.makedirs(self.dir, exist_ok=True)
        d = self.dir
        self.ca = self._ca("ca", "cpr-test-ca")
        self.other_ca = self._ca("other-ca", "cpr-other-ca")
        ext_server = os.path.join(d, "server.ext")
        with open(ext_server, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
        ext_client = os.path.join(d, "client.ext")
        with open(ext_client, "w") as f:
            f.write("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
        self.server = self._leaf("server", "127.0.0.1", self.ca, ext_server)
        ext_misnamed = os.path.join(d, "misnamed.ext")
        with open(ext_misnamed, "w") as f:
            f.write("subjectAltName=IP:127.0.0.9,DNS:elsewhere.invalid\n"
                    "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
        # a serving cert from ca that does not name 127.0.0.1 or localhost
        self.misnamed = self._leaf("misnamed", "elsewhere", self.ca, ext_misnamed)
        self.client = self._leaf("client", "root", self.ca, ext_client)
        self.rogue = self._leaf("rogue", "root", self.other_ca, ext_client)
        self.expired = self._expired("expired", "root", self.ca)

    def _ca(self, name, cn):
        key, cert = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".crt")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=" + cn,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return {"cert": cert, "key": key}

    def _leaf(self, name, cn, ca, ext):
        key, csr = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".crt")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        _openssl("x509", "-req", "-in", csr, "-CA", ca["cert"], "-CAkey", ca["key"],
                 "-CAcreateserial", "-out", cert, "-days", "30", "-extfile", ext)
        return {"cert": cert, "key": key}

    def _expired(self, name, cn, ca):
        # `openssl ca` is the CLI way to set an end date in the past.
        db = os.path.join(self.dir, "ca-db")
        os.makedirs(db, exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("1000\n")
        conf = os.path.join(db, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=c\n[c]\ndatabase=%s/index.txt\nserial=%s/serial\n"
                    "new_certs_dir=%s\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                    "copy_extensions=none\nx509_extensions=e\n[p]\ncommonName=supplied\n"
                    "[e]\nextendedKeyUsage=clientAuth\n" % (db, db, db))
        key, csr = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".csr")
        cert = os.path.join(self.dir, name + ".crt")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        _openssl("ca", "-batch", "-config", conf, "-cert", ca["cert"], "-keyfile", ca["key"],
                 "-in", csr, "-out", cert, "-startdate", "20200101000000Z",
                 "-enddate", "20200102000000Z", "-notext")
        return {"cert": cert, "key": key}

    def client_flags(self, who="client", ca=None):
        """--cacert/--cert/--key for etcdctl or cpr; who: client|rogue|expired|None."""
        flags = ["--cacert", (ca or self.ca)["cert"]]
        if who:
            c = getattr(self, who)
            flags += ["--cert", c["cert"], "--key", c["key"]]
        return flags


def free_ports(n, host="127.0.0.1"):
    """n distinct free ports (bind-probed), in the range free_port_pair uses."""
    out = []
    while len(out) < n:
        a, b = free_port_pair(host)
        for p in (a, b):
            if p not in out and len(out) < n:
                out.append(p)
    return out


class Cluster:
    """A real etcd 3.4 cluster of `size` members on 127.0.0.1 (free ports),
    clients over TLS with client-certificate auth when `pki` is given (peers
    stay plaintext). Members are stopped by PID (stop(), atexit)."""

    def __init__(self, size=3, pki=None, workdir=None, name="m", extra=(), server_cert="server"):
        for tool in (ETCD, ETCDCTL):
            if not os.access(tool, os.X_OK):
                raise RuntimeError("%s not found: run scripts/setup.sh (etcd-server, etcd-client)" % tool)
        self.size = size
        self.pki = pki
        self.server_cert = server_cert
        self.extra = list(extra)
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cpr-it-")
        os.makedirs(self.workdir, exist_ok=True)
        self.names = ["%s%d" % (name, i) for i in range(size)]
        self.procs = [None] * size
        self.token = "cpr-it-%d-%d" % (os.getpid(), random.randrange(1 << 30))
        last = ""
        for attempt in range(4):
            ports = free_ports(2 * size)
            self.cports, self.pports = ports[:size], ports[size:]
            scheme = "https" if pki else "http"
            self.client_urls = ["%s://127.0.0.1:%d" % (scheme, p) for p in self.cports]
            self.peer_urls = ["http://127.0.0.1:%d" % p for p in self.pports]
            self.initial = ",".join("%s=%s" % (n, u) for n, u in zip(self.names, self.peer_urls))
            _started.append(self)
            for i in range(size):
                self.start_member(i, state="new")
            if self.wait_healthy(40):
                return
            last = "\n".join(self.tail_log(i) for i in range(size))
            self.stop()
            for i in range(size):
                shutil.rmtree(self.data(i), ignore_errors=True)
            if "address already in use" not in last:
                break
        raise RuntimeError("cluster did not become healthy; logs:\n" + last)

    def data(self, i):
        return os.path.join(self.workdir, "data-" + self.names[i])

    def logpath(self, i):
        return os.path.join(self.workdir, "etcd-%s.log" % self.names[i])

    def start_member(self, i, state="existing"):
        tls = []
        if self.pki:
            srv = getattr(self.pki, self.server_cert)
            tls = ["--cert-file", srv["cert"], "--key-file", srv["key"],
                   "--trusted-ca-file", self.pki.ca["cert"], "--client-cert-auth"]
        log = open(self.logpath(i), "ab")
        self.procs[i] = subprocess.Popen(
            [ETCD, "--name", self.names[i], "--data-dir", self.data(i),
             "--listen-client-urls", self.client_urls[i], "--advertise-client-urls", self.client_urls[i],
             "--listen-peer-urls", self.peer_urls[i], "--initial-advertise-peer-urls", self.peer_urls[i],
             "--initial-cluster", self.initial, "--initial-cluster-state", state,
             "--initial-cluster-token", self.token,
             "--heartbeat-interval", "50", "--election-timeout", "500",
             "--logger", "zap", "--log-level", "warn", *tls, *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    def stop_member(self, i, sig=signal.SIGTERM):
        """Stop member i by its PID (SIGTERM; SIGKILL kills; SIGSTOP freezes it)."""
        p = self.procs[i]
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        if sig == signal.SIGSTOP:
            return
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def resume_member(self, i):
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGCONT)

    def stop(self):
        for i, p in enumerate(self.procs):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self in _started:
            _started.remove(self)

    def cleanup(self):
        self.stop()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def tail_log(self, i, n=3000):
        try:
            with open(self.logpath(i), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- endpoints and etcdctl ------------------------------------------
    def endpoint(self, i):
        return "127.0.0.1:%d" % self.cports[i]

    def endpoints(self, members=None):
        return ",".join(self.endpoint(i) for i in (members if members is not None else range(self.size)))

    def tls_flags(self, who="client"):
        if not self.pki:
            return []
        # the lab's own etcdctl calls must work with a misnamed serving cert
        skip = ["--insecure-skip-tls-verify"] if self.server_cert != "server" else []
        return self.pki.client_flags(who) + skip

    def ctl(self, *args, members=None, check=True, timeout=120):
        cmd = [ETCDCTL, "--endpoints", self.endpoints(members), "--command-timeout=60s",
               *self.tls_flags()]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True,
                           env={**os.environ, "ETCDCTL_API": "3"}, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("etcdctl %s failed (%d): %s" % (
                " ".join(map(str, args)), r.returncode, r.stderr.decode(errors="replace")))
        return r

    def ctl_json(self, *args, **kw):
        return json.loads(self.ctl("-w", "json", *args, **kw).stdout)

    def wait_healthy(self, timeout, members=None):
        members = list(members if members is not None else range(self.size))
        t_end = time.time() + timeout
        while time.time() < t_end:
            if any(self.procs[i] is not None and self.procs[i].poll() is not None for i in members):
                return False
            r = subprocess.run([ETCDCTL, "--endpoints", self.endpoints(members), "--dial-timeout=1s",
                                "--command-timeout=2s", *self.tls_flags(), "endpoint", "health"],
                               capture_output=True, env={**os.environ, "ETCDCTL_API": "3"})
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def leader(self):
        """Index of the leader (from etcdctl endpoint status)."""
        for st in self.ctl_json("endpoint", "status", check=True):
            s = st["Status"]
            if s["leader"] == s["header"]["member_id"]:
                return self.cports.index(int(st["Endpoint"].rsplit(":", 1)[1]))
        raise RuntimeError("no leader")

    def put_many(self, n, prefix="/registry/configmaps/ns/cm", size=100):
        """n puts through python-etcd3 (plaintext clusters only), one txn per 100
        (etcd's default --max-txn-ops is 128)."""
        import etcd3
        c = etcd3.client(host="127.0.0.1", port=self.cports[0], timeout=120)
        try:
            for start in range(0, n, 100):
                ops = [c.transactions.put("%s%d" % (prefix, i), "v" * size)
                       for i in range(start, min(n, start + 100))]
                c.transaction(compare=[], success=ops, failure=[])
        finally:
            c.close()


def strip_volatile(doc):
    """etcdctl and cpr ask a moment apart: raft indexes and 'took' may move."""
    if isinstance(doc, list):
        return [strip_volatile(d) for d in doc]
    if isinstance(doc, dict):
        return {k: strip_volatile(v) for k, v in doc.items()
                if k not in ("raftIndex", "raftAppliedIndex", "took")}
    return doc


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def etcdctl_status(path):
    r = subprocess.run([ETCDCTL, "snapshot", "status", path, "-w", "json"], capture_output=True,
                       env={**os.environ, "ETCDCTL_API": "3"}, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("etcdctl snapshot status %s: %s" % (path, r.stderr.decode(errors="replace")))
    return json.loads(r.stdout)


# ----------------------------------------------------------------------------
# cpr
# ----------------------------------------------------------------------------
SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:",
                   b"SUMMARY: UndefinedBehaviorSanitizer", b"terminate called", b"Segmentation fault")


def _show(args):
    return " ".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in args)


class CprCrash(AssertionError):
    pass


class Cpr:
    def __init__(self, path):
        self.path = path

    def run(self, *args, timeout=120, stdin=None, extra_env=None):
        """Run cpr (with `extra_env` added to the environment); raise CprCrash
        on a signal, exit >= 128, a sanitizer report or a hang. Returns
        CompletedProcess with bytes stdout/stderr."""
        env = dict(os.environ, **(extra_env or {}))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=98")
        cmd = [self.path] + [a if isinstance(a, bytes) else str(a) for a in args]
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, stdin=stdin)
        except subprocess.TimeoutExpired:
            raise CprCrash("cpr hung (> %ds): %s" % (timeout, _show(cmd)))
        if r.returncode < 0 or r.returncode >= 128 or r.returncode in (98, 99) or \
                any(m in r.stderr for m in SANITIZER_MARKS):
            raise CprCrash("cpr crashed (rc %d): %s\n%s" % (
                r.returncode, _show(cmd), r.stderr.decode(errors="replace")[-3000:]))
        return r

    def ok(self, *args, **kw):
        """Run and require exit 0."""
        r = self.run(*args, **kw)
        if r.returncode != 0:
            raise AssertionError("cpr %s: exit %d, stderr: %s" % (
                _show(args), r.returncode, r.stderr.decode(errors="replace")[-2000:]))
        return r

    def json(self, *args, **kw):
        r = self.ok(*args, "-w", "json", **kw)
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            raise AssertionError("cpr %s -w json printed no JSON (%s): %r" % (
                _show(args), e, r.stdout[:500]))


def cpr():
    if not CPR_PATH or not os.access(CPR_PATH, os.X_OK):
        raise AssertionError("cpr binary not found at %r (pass --cpr PATH)" % CPR_PATH)
    return Cpr(CPR_PATH)


# ----------------------------------------------------------------------------
# comparing kvs
# ----------------------------------------------------------------------------
def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s) if s else b""


def norm_kv(kv, keys_only=False):
    """etcdctl's / cpr's kv JSON -> comparable tuple. etcdctl omits zero and
    empty fields (lease 0, empty value); so may cpr."""
    t = (unb64(kv.get("key", "")), int(kv.get("create_revision", 0)), int(kv.get("mod_revision", 0)),
         int(kv.get("version", 0)), int(kv.get("lease", 0)))
    if keys_only:
        return t
    return t + (unb64(kv.get("value", "")),)


def norm_kvs(doc, keys_only=False):
    return [norm_kv(kv, keys_only) for kv in (doc.get("kvs") or [])]


def show_kv(t):
    return "(key=%r create=%d mod=%d ver=%d lease=%d%s)" % (
        t[0][:80], t[1], t[2], t[3], t[4], " value=%d bytes" % len(t[5]) if len(t) > 5 else "")


class TestCase(unittest.TestCase):
    maxDiff = 4000

    @classmethod
    def cpr(cls):
        return cpr()

    def assertKvsEqual(self, got_doc, ref_doc, keys_only=False, what=""):
        got = norm_kvs(got_doc, keys_only)
        ref = norm_kvs(ref_doc, keys_only)
        if got == ref:
            return
        # a short, readable difference instead of a 100k-line dump
        gd = {t[0]: t for t in got}
        rd = {t[0]: t for t in ref}
        missing = [k for k in rd if k not in gd]
        extra = [k for k in gd if k not in rd]
        differ = [k for k in rd if k in gd and gd[k] != rd[k]]
        order = "" if [t[0] for t in got] == sorted(t[0] for t in got) else "; cpr's keys not sorted"
        lines = ["%s: cpr %d kvs, etcdctl %d; %d missing, %d extra, %d differ%s" % (
            what, len(got), len(ref), len(missing), len(extra), len(differ), order)]
        lines += ["  missing %r" % k[:80] for k in missing[:5]]
        lines += ["  extra   %r" % k[:80] for k in extra[:5]]
        for k in differ[:5]:
            lines.append("  cpr     %s\n  etcdctl %s" % (show_kv(gd[k]), show_kv(rd[k])))
        self.fail("\n".join(lines))


def main():
    global CPR_PATH
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--cpr", default=os.path.join(REPO, "build", "cpr"))
    args, rest = ap.parse_known_args()
    CPR_PATH = os.path.abspath(args.cpr)
    t0 = time.time()
    prog = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    res = prog.result
    print("%s: %d run, %d failures, %d errors, %d skipped in %.1fs" % (
        os.path.basename(sys.argv[0]), res.testsRun, len(res.failures), len(res.errors),
        len(res.skipped), time.time() - t0))
    _stop_all()
    sys.exit(0 if res.wasSuccessful() and res.testsRun > 0 else 1)
