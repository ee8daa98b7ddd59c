"""Helpers for the restore tests (test_restore.py, test_small_restore.py).

  * Member: real etcd 3.4 booted on a restored data dir, on the peer URL the
    restore baked into its WAL; stopped by its PID (stop(), atexit via
    etcdlab). It is an etcdlab.Etcd, so ctl()/get_all()/put() work.
  * etcdctl_restore(): the oracle, `etcdctl snapshot restore` with the same flags.
  * wal_meta(): member and cluster IDs read from a WAL's metadata record.
  * staging_left(), tree(): what a restore left on disk.
"""
import hashlib
import os
import signal
import stat
import struct
import subprocess
import time

import etcdlab

WAL_NAME = "0000000000000000-0000000000000000.wal"
WAL_BYTES = 64_000_000
STAGING = ".cpr-restore-"


def restore_flags(name, cluster, token, peer_url, data_dir, wal_dir=None):
    """etcdctl 3.4 / cpr snapshot restore flags (identical for both tools)."""
    f = ["--name", name, "--initial-cluster", cluster, "--initial-cluster-token", token,
         "--initial-advertise-peer-urls", peer_url, "--data-dir", data_dir]
    if wal_dir:
        f += ["--wal-dir", wal_dir]
    return f


def etcdctl_restore(snap, flags, cwd=None, skip_hash=False):
    r = subprocess.run([etcdlab.ETCDCTL, "snapshot", "restore", snap, *flags] +
                       (["--skip-hash-check"] if skip_hash else []),
                       capture_output=True, env={**os.environ, "ETCDCTL_API": "3"}, cwd=cwd,
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError("etcdctl snapshot restore %s: %s" % (
            " ".join(flags), r.stderr.decode(errors="replace")[-2000:]))
    return r


def run_raw(args, env=None, cwd=None, timeout=120):
    """cpr without etcdlab.Cpr's crash detection (for the fault-injection
    runs, which die by SIGKILL on purpose)."""
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    e.update(env or {})
    return subprocess.run([etcdlab.CPR_PATH] + [str(a) for a in args], capture_output=True,
                          env=e, cwd=cwd, timeout=timeout)


def member_paths(data_dir, wal_dir=None):
    """(wal file, .snap files, db) of a restored member."""
    snapdir = os.path.join(data_dir, "member", "snap")
    wal = os.path.join(wal_dir or os.path.join(data_dir, "member", "wal"), WAL_NAME)
    snaps = sorted(f for f in os.listdir(snapdir) if f.endswith(".snap")) if os.path.isdir(snapdir) else []
    return wal, [os.path.join(snapdir, s) for s in snaps], os.path.join(snapdir, "db")


def _uvarint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def _fields(b):
    """proto wire -> {field: value} (varints and length-delimited only)."""
    out, i = {}, 0
    while i < len(b):
        tag, i = _uvarint(b, i)
        f, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = _uvarint(b, i)
        elif wt == 2:
            n, i = _uvarint(b, i)
            v, i = bytes(b[i:i + n]), i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(f, v)
    return out


def wal_records(path, limit=64):
    """[(type, crc, data)] of the first records of a WAL segment (§5.5.2)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    out, off = [], 0
    while off + 8 <= len(head) and len(out) < limit:
        field, = struct.unpack_from("<Q", head, off)
        if field == 0:
            break
        n = field & 0x00FFFFFFFFFFFFFF
        pad = (field >> 56) & 7 if field & (1 << 63) else 0
        rec = _fields(head[off + 8:off + 8 + n])
        out.append((rec.get(1, 0), rec.get(2, 0), rec.get(3)))
        off += 8 + n + pad
    return out


def wal_meta(path):
    """(member ID, cluster ID) from the WAL's metadata record, as hex strings."""
    for typ, _, data in wal_records(path):
        if typ == 1:
            m = _fields(data)
            return "%x" % m.get(1, 0), "%x" % m.get(2, 0)
    raise AssertionError("%s: no metadata record" % path)


def staging_left(*dirs):
    """.cpr-restore-* entries left in the given dirs."""
    out = []
    for d in dirs:
        if d and os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d) if n.startswith(STAGING)]
    return sorted(out)


def tree(root):
    """{relative path: (mode, size, sha256 of the first MB)} of everything
    under root (None when root does not exist)."""
    if not os.path.lexists(root):
        return None
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            h = ""
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read(1 << 20)).hexdigest()
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size, h)
    return out


def file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Member(etcdlab.Etcd):
    """etcd on a restored data dir. `peer_port` must be the port of the peer
    URL given to the restore; the client port is any free one."""

    def __init__(self, name, data, peer_port, cluster, workdir, wal_dir=None, user=None,
                 client_port=None, wait=True, extra=()):
        for tool in (etcdlab.ETCD, etcdlab.ETCDCTL):
            if not os.access(tool, os.X_OK):
                raise RuntimeError("%s not found: run scripts/setup.sh (etcd-server, etcd-client)" % tool)
        self.name, self.data, self.wal_dir, self.workdir = name, data, wal_dir, workdir
        self.own_workdir = False
        self.extra = list(extra)
        self.proc, self._client, self.user = None, None, user
        self.pport, self.cluster = peer_port, cluster
        self.cport = client_port or self._client_port()
        self.endpoint = "http://127.0.0.1:%d" % self.cport
        self.logpath = os.path.join(workdir, "etcd-%s-%d.log" % (name, self.cport))
        self.launch()
        if wait and not self._wait_healthy(40):
            log = self.tail_log()
            self.stop()
            raise AssertionError("etcd did not boot on the restored %s; log:\n%s" % (data, log))

    def _client_port(self):
        while True:
            a, b = etcdlab.free_port_pair()
            for p in (a, b):
                if p != self.pport and p != self.pport + 1:
                    return p

    def launch(self):
        peer = "http://127.0.0.1:%d" % self.pport
        log = open(self.logpath, "ab")
        wal = ["--wal-dir", self.wal_dir] if self.wal_dir else []
        self.proc = subprocess.Popen(
            [etcdlab.ETCD, "--name", self.name, "--data-dir", self.data, *wal,
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", self.cluster, "--initial-cluster-state", "new",
             "--heartbeat-interval", "50", "--election-timeout", "500",
             "--logger", "zap", "--log-level", "warn", *self.extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        etcdlab._started.append(self)

    def start(self):  # etcdlab.Etcd.start picks new ports: not for a restored member
        self.launch()

    def _wait_healthy(self, timeout):
        # with auth on, `endpoint health` without a user fails ("user name is empty")
        user = ["--user", self.user] if self.user else []
        t_end = time.time() + timeout
        while time.time() < t_end:
            if self.proc.poll() is not None:
                return False
            r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", self.endpoint, "--dial-timeout=1s",
                                "--command-timeout=2s", *user, "endpoint", "health"],
                               capture_output=True, env=self._env())
            if r.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def wait(self, timeout=40):
        if not self._wait_healthy(timeout):
            raise AssertionError("etcd %s not healthy; log:\n%s" % (self.name, self.tail_log()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.stop()

    # -- reads -----------------------------------------------------------
    def member_list(self):
        """[(id hex, name, peerURLs)] sorted by ID, and the cluster ID (hex)."""
        d = self.ctl_json("member", "list")
        ms = sorted(("%x" % int(m["ID"]), m.get("name", ""), tuple(m.get("peerURLs", [])))
                    for m in d.get("members", []))
        return ms, "%x" % int(d["header"]["cluster_id"])

    def hashkv(self, rev):
        d = self.ctl_json("endpoint", "hashkv", "--rev=%d" % rev)
        h = d[0]["HashKV"]
        return int(h["hash"]), int(h.get("compact_revision", 0))

    def leases(self):
        d = self.ctl_json("lease", "list")
        return sorted(int(x["id"]) for x in d.get("leases") or [])

    def put_rev(self, key, value):
        return int(self.ctl_json("put", key, value)["header"]["revision"])

    def watch_from(self, key, rev, secs=4):
        """`etcdctl watch KEY --rev REV` for a few seconds: (stdout+stderr text)."""
        cmd = [etcdlab.ETCDCTL, "--endpoints", self.endpoint, "watch", key, "--rev=%d" % rev]
        if self.user:
            cmd[3:3] = ["--user", self.user]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ, "ETCDCTL_API": "3"})
        try:
            out, _ = p.communicate(timeout=secs)
        except subprocess.TimeoutExpired:
            p.kill()  # by its PID
            out, _ = p.communicate()
        return out.decode(errors="replace")


def wait_all(members, timeout=40):
    t_end = time.time() + timeout
    for m in members:
        m.wait(max(1, t_end - time.time()))
