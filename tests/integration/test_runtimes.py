#!/usr/bin/python3
"""restore-quorum where etcd is not a static pod (host/member_runtime.h):
real etcd 3.4 on 127.0.0.1 with free ports, each host a root folder.

  systemd   Debian's etcd.service driven by fake_systemctl.py
            ($CPR_SYSTEMCTL; it starts a REAL etcd from ROOT/etc/default/etcd),
            mutual TLS from ETCD_*_FILE: the data equals the backup, one
            member although the env file's ETCD_INITIAL_CLUSTER names three
            (a restored data dir has a WAL: etcd ignores it, so CPR leaves
            the file as it was), the old data dir moved aside, --runtime
            auto picks systemd; refusals change nothing
  process   an etcd known by its PID file (name from its environment, a
            data dir relative to its cwd): killed before start-etcd and run
            again (the command line comes from the journal), the same
            program, arguments and environment under a new PID in the PID
            file; a PID file naming another process is refused, that
            process never signalled
Every process a test starts is stopped by PID.
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import etcdlab
from test_procedures import pid_alive

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE_SYSTEMCTL = os.path.join(HERE, "fake_systemctl.py")
PREFIX = "/registry/rt/"


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def kill_pid(pid):
    if pid > 0 and pid_alive(pid):
        os.kill(pid, signal.SIGKILL)


def slurp(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def layout(paths):
    """{path: inode} of each path and everything under it, for 'nothing moved'.
    Contents are not compared: a running etcd writes to its own WAL and db
    whenever its backend commits, which a refusal must not be blamed for;
    a file CPR moved, created or removed shows here."""
    out = {}
    for base in paths:
        out[base] = os.lstat(base).st_ino
        for d, dirs, files in os.walk(base):
            for f in dirs + files:
                p = os.path.join(d, f)
                out[p] = os.lstat(p).st_ino
    return out


class Host:
    """A root folder with one etcd on 127.0.0.1 and the helpers to read it."""

    def __init__(self, tmp, name, tls=None):
        self.root = os.path.join(tmp, name)
        os.makedirs(self.root)
        self.name = name
        self.tls = tls
        self.pport, self.cport = etcdlab.free_port_pair()
        scheme = "https" if tls else "http"
        self.peer_url = "http://127.0.0.1:%d" % self.pport
        self.client_url = "%s://127.0.0.1:%d" % (scheme, self.cport)

    def ctl(self, *args, check=True):
        flags = []
        if self.tls:
            flags = ["--cacert", self.tls.ca["cert"], "--cert", self.tls.server["cert"],
                     "--key", self.tls.server["key"]]
        r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", self.client_url,
                            "--command-timeout=10s", *flags, *args], capture_output=True,
                           env=dict(os.environ, ETCDCTL_API="3"), timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), r.stderr.decode()[-800:]))
        return r

    def wait_serving(self, timeout=40):
        deadline = time.time() + timeout
        while self.ctl("get", "x", check=False).returncode != 0:
            if time.time() > deadline:
                raise AssertionError("%s: etcd did not serve at %s" % (self.name, self.client_url))
            time.sleep(0.2)

    def load(self, n=120):
        want = {}
        for i in range(n):
            k, v = "%sns-%d/obj-%04d" % (PREFIX, i % 5, i), "value-%d-%s" % (i, "x" * (i % 97))
            self.ctl("put", k, v)
            want[k] = v.encode()
        return want

    def read_all(self):
        doc = json.loads(self.ctl("get", "--prefix", PREFIX, "-w", "json").stdout)
        return {etcdlab.unb64(kv["key"]).decode(): etcdlab.unb64(kv["value"])
                for kv in doc.get("kvs") or []}

    def members(self):
        doc = json.loads(self.ctl("member", "list", "-w", "json").stdout)
        return sorted(m.get("name", "") for m in doc["members"])

    def snapshot(self, path):
        self.ctl("snapshot", "save", path)
        return path

    def moved_aside(self, parent):
        return [d for d in os.listdir(os.path.join(self.root, parent)) if ".moved-aside-" in d]


class Runtimes(etcdlab.TestCase):
    def setUp(self):
        self.c = etcdlab.cpr()
        self.tmp = tempfile.mkdtemp(prefix="cpr-rt-")
        self.pids = []  # PID files and PIDs whose processes tearDown kills
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.stop_all)

    def stop_all(self):
        for p in self.pids:
            kill_pid(read_pid(p) if isinstance(p, str) else p)

    def assertData(self, host, want):
        got = host.read_all()
        self.assertEqual(sorted(got), sorted(want), "keys differ from the backup")
        self.assertFalse([k for k in want if got[k] != want[k]], "values differ from the backup")

    # ------------------------------------------------------------------
    def systemd_host(self):
        pki = etcdlab.Pki(self.tmp)
        h = Host(self.tmp, "sd1", tls=pki)
        os.makedirs(os.path.join(h.root, "var/lib/etcd"))
        os.makedirs(os.path.join(h.root, "etc/default"))
        os.makedirs(os.path.join(h.root, "lib/systemd/system"))
        shutil.copy("/lib/systemd/system/etcd.service", os.path.join(h.root, "lib/systemd/system"))
        h.env_file = os.path.join(h.root, "etc/default/etcd")
        with open(h.env_file, "w") as f:
            f.write("## etcd(1) daemon options, as Debian's file starts\n"
                    "#ETCD_NAME=\"unused\"\n\n"
                    "ETCD_NAME=\"sd1\"\n"
                    "export ETCD_LISTEN_PEER_URLS='%s'\n"
                    "ETCD_LISTEN_CLIENT_URLS=%s   # clients over TLS\n"
                    "ETCD_INITIAL_ADVERTISE_PEER_URLS=%s\n"
                    "ETCD_ADVERTISE_CLIENT_URLS=\"%s\"\n"
                    "ETCD_INITIAL_CLUSTER=\"sd1=%s\"\n"
                    "ETCD_INITIAL_CLUSTER_STATE=new\n"
                    "ETCD_CERT_FILE=%s\nETCD_KEY_FILE=%s\nETCD_TRUSTED_CA_FILE=%s\n"
                    "ETCD_CLIENT_CERT_AUTH=true\n"
                    "DAEMON_ARGS=\"--heartbeat-interval 50 --election-timeout 500 --log-level warn\"\n"
                    % (h.peer_url, h.client_url, h.peer_url, h.client_url, h.peer_url,
                       pki.server["cert"], pki.server["key"], pki.ca["cert"]))
        h.env = dict(os.environ, CPR_SYSTEMCTL=FAKE_SYSTEMCTL, FAKE_SYSTEMD_ROOT=h.root)
        h.fake_pid = os.path.join(h.root, "run/fake-systemd/etcd.pid")
        self.pids.append(h.fake_pid)
        subprocess.run([FAKE_SYSTEMCTL, "start", "etcd"], env=h.env, check=True)
        h.wait_serving()
        return h

    def test_systemd_restore_quorum(self):
        h = self.systemd_host()
        want = h.load()
        snap = h.snapshot(os.path.join(self.tmp, "backup.db"))
        h.ctl("put", PREFIX + "after-the-backup", "x")
        # The env file now names old members too: etcd must ignore it on a restored WAL.
        text = slurp(h.env_file).replace(
            'ETCD_INITIAL_CLUSTER="sd1=%s"' % h.peer_url,
            'ETCD_INITIAL_CLUSTER="sd1=%s,sd2=http://127.0.0.1:1,sd3=http://127.0.0.1:2"' % h.peer_url)
        with open(h.env_file, "w") as f:
            f.write(text)
        data = os.path.join(h.root, "var/lib/etcd/default")
        ic = "sd1=" + h.peer_url
        old_pid = read_pid(h.fake_pid)
        # refusals: nothing changes, etcd keeps running
        before = layout([data, h.env_file])
        env_text = slurp(h.env_file, "rb")
        for args, named in [(["sd9=" + h.peer_url], "INITIAL_CLUSTER"),
                            ([ic, "--runtime", "process"], "--pid-file"),
                            ([ic, "--runtime", "static-pod"], "manifest")]:
            with self.subTest(refusal=args):
                r = subprocess.run([self.c.path, "restore-quorum", snap, *args, "--root", h.root],
                                   capture_output=True, env=h.env, timeout=120)
                self.assertNotEqual(r.returncode, 0, r.stderr)
                self.assertIn(named, r.stderr.decode())
                self.assertEqual(read_pid(h.fake_pid), old_pid)
                self.assertTrue(pid_alive(old_pid))
                self.assertFalse(os.path.exists(os.path.join(h.root, "var/lib/cpr/journal")))
        # --dry-run: auto picks systemd (ROOT/lib/systemd/system/etcd.service, the env file)
        r = subprocess.run([self.c.path, "restore-quorum", snap, ic, "--root", h.root, "--dry-run"],
                           capture_output=True, env=dict(h.env, CPR_SYSTEMCTL=""), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"runtime systemd", r.stdout)
        self.assertIn(b"stop-etcd", r.stdout)
        self.assertEqual(layout([data, h.env_file]), before)
        self.assertEqual(slurp(h.env_file, "rb"), env_text)
        # the restore
        r = subprocess.run([self.c.path, "restore-quorum", snap, ic, "--root", h.root,
                            "--runtime", "systemd", "-w", "json"],
                           capture_output=True, env=h.env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        doc = json.loads(r.stdout)
        self.assertEqual(doc["plan"]["runtime"], "systemd")
        self.assertEqual(doc["plan"]["data_dir"], data)
        self.assertEqual([s["name"] for s in doc["steps"]],
                         ["restore-db", "stop-etcd", "swap-data-dir", "start-etcd", "wait-serving",
                          "report"])
        new_pid = read_pid(h.fake_pid)
        self.assertNotEqual(new_pid, old_pid)
        self.assertFalse(pid_alive(old_pid))
        self.assertData(h, want)
        self.assertEqual(h.members(), ["sd1"])
        self.assertEqual(slurp(h.env_file), text, "the env file was rewritten")
        aside = h.moved_aside("var/lib/etcd")
        self.assertEqual(len(aside), 1, aside)
        self.assertTrue(os.path.isfile(os.path.join(h.root, "var/lib/etcd", aside[0],
                                                    "member/snap/db")))
        calls = slurp(os.path.join(h.root, "var/log/fake-systemctl.calls")).split("\n")
        self.assertIn("stop --no-block etcd", calls)
        self.assertIn("start --no-block etcd", calls)

    # ------------------------------------------------------------------
    def process_host(self):
        h = Host(self.tmp, "p1")
        os.makedirs(os.path.join(h.root, "var/lib"))
        os.makedirs(os.path.join(h.root, "run"))
        h.pid_file = os.path.join(h.root, "run/etcd.pid")
        self.pids.append(h.pid_file)
        # The name from the environment, the data dir relative to the cwd.
        env = {"PATH": "/usr/bin:/bin", "ETCD_NAME": "p1", "ETCD_LOG_LEVEL": "warn"}
        with open(os.path.join(self.tmp, "p1-etcd.log"), "ab") as log:
            h.proc = subprocess.Popen(
                [etcdlab.ETCD, "--data-dir", "var/lib/etcd", "--listen-client-urls", h.client_url,
                 "--advertise-client-urls", h.client_url, "--listen-peer-urls", h.peer_url,
                 "--initial-advertise-peer-urls", h.peer_url, "--initial-cluster", "p1=" + h.peer_url,
                 "--heartbeat-interval", "50", "--election-timeout", "500"],
                env=env, cwd=h.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.pids.append(h.proc.pid)
        with open(h.pid_file, "w") as f:
            f.write("%d\n" % h.proc.pid)
        h.wait_serving()
        return h

    def test_process_restore_quorum_killed_and_resumed(self):
        h = self.process_host()
        want = h.load()
        snap = h.snapshot(os.path.join(self.tmp, "backup.db"))
        h.ctl("put", PREFIX + "after-the-backup", "x")
        ic = "p1=" + h.peer_url
        data = os.path.join(h.root, "var/lib/etcd")
        args = [self.c.path, "restore-quorum", snap, ic, "--root", h.root, "--runtime", "process",
                "--pid-file", "/run/etcd.pid"]
        # a PID file naming another process: refused, that process untouched
        other = subprocess.Popen(["sleep", "300"], start_new_session=True)
        self.pids.append(other.pid)
        with open(h.pid_file, "w") as f:
            f.write("%d\n" % other.pid)
        before = layout([data])
        r = subprocess.run(args, capture_output=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"names no running etcd", r.stderr)
        self.assertTrue(pid_alive(other.pid))
        self.assertTrue(pid_alive(h.proc.pid))
        other.kill()
        other.wait()
        self.assertEqual(layout([data]), before)
        with open(h.pid_file, "w") as f:
            f.write("%d\n" % h.proc.pid)
        # killed once etcd is stopped and swapped, then run again
        r = subprocess.run(args, capture_output=True, timeout=300,
                           env=dict(os.environ, CPR_STEP_FAULT="start-etcd:before"))
        self.assertEqual(r.returncode, -9, r.stderr.decode()[-2000:])
        h.proc.wait(timeout=30)  # the etcd we started is gone (and reaped)
        r = subprocess.run(args + ["-w", "json"], capture_output=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        doc = json.loads(r.stdout)
        self.assertEqual(doc["plan"]["runtime"], "process")
        self.assertEqual(doc["plan"]["data_dir"], data)
        self.assertEqual(doc["plan"]["member"], "p1")
        self.assertEqual([(s["name"], s["state"]) for s in doc["steps"]],
                         [("restore-db", "skipped"), ("stop-etcd", "skipped"),
                          ("swap-data-dir", "skipped"), ("start-etcd", "done"),
                          ("wait-serving", "done"), ("report", "done")])
        new_pid = read_pid(h.pid_file)
        self.assertTrue(pid_alive(new_pid))
        self.assertNotEqual(new_pid, h.proc.pid)
        old_cmd = h.proc.args
        with open("/proc/%d/cmdline" % new_pid, "rb") as f:
            self.assertEqual(f.read().split(b"\0")[:-1], [a.encode() for a in old_cmd])
        with open("/proc/%d/environ" % new_pid, "rb") as f:
            self.assertIn(b"ETCD_NAME=p1", f.read().split(b"\0"))
        self.assertEqual(os.readlink("/proc/%d/cwd" % new_pid), h.root)
        self.assertTrue(os.path.isfile(os.path.join(h.root, "var/log/cpr/etcd.log")))
        self.assertData(h, want)
        self.assertEqual(h.members(), ["p1"])
        aside = h.moved_aside("var/lib")
        self.assertEqual(len(aside), 1, aside)
        self.assertTrue(os.path.isfile(os.path.join(h.root, "var/lib", aside[0], "member/snap/db")))


if __name__ == "__main__":
    etcdlab.main()
