#!/usr/bin/python3
"""restore-quorum and restore-cluster on `cpr lab` hosts running real etcd 3.4
with mutual TLS (issue 9). Data is written and read with python3-etcd3 and
etcdctl over the lab's admin certificates, never with cpr.

  lab          up -w json shape, status, kill (ports closed), start (serving
               again), down (every process it started gone, DIR removed)
  quorum       seed §3.2: two masters killed, restore-quorum on the survivor:
               every key and value of the backup, nothing written after it,
               one member, revision forward, a watch from the backup's
               revision refused as compacted, the old data dir kept
  cluster      seed §3.3: restore-cluster --lab: every member back to the
               backup, hashkv equal
  traps        a live old member refused (named), INITIAL_CLUSTER without this
               host or malformed, a backup of another cluster, a SHA-256 that
               is not the expected one, --dry-run: each refused or planned
               before any change, the host's data dir and manifests
               byte-equal to before
  faults       restore-quorum SIGKILLed before and after every step
               (CPR_STEP_FAULT), then run again: the same end state as an
               uninterrupted run, the old data dir still kept
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import etcdlab

PREFIX = "/registry/it/"


class Lab:
    """A `cpr lab` for one test: up in setUp, down (by the lab, then any
    leftover by PID) in tearDown."""

    def __init__(self, c, workdir, masters=3, workers=0, name="lab", extra=()):
        self.c = c
        self.dir = os.path.join(workdir, name)
        r = c.ok("lab", "up", "--dir", self.dir, "--masters", str(masters), "--workers",
                 str(workers), *extra, "-w", "json", timeout=180)
        self.info = json.loads(r.stdout)
        self.hosts = {h["name"]: h for h in self.info["hosts"]}
        self.admin = self.info["admin"]
        self.names = sorted(self.hosts)

    def env(self):
        return dict(os.environ, ETCDCTL_API="3", ETCDCTL_CACERT=self.admin["cacert"],
                    ETCDCTL_CERT=self.admin["cert"], ETCDCTL_KEY=self.admin["key"])

    def ctl(self, names, *args, check=True, timeout=30):
        eps = ",".join(self.hosts[n]["client_url"] for n in names)
        r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", eps, "--command-timeout=10s", *args],
                           capture_output=True, env=self.env(), timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(args), r.stderr.decode()[-800:]))
        return r

    def client(self, name):
        import etcd3
        host, port = self.hosts[name]["client_url"].split("//", 1)[1].rsplit(":", 1)
        return etcd3.client(host=host, port=int(port), ca_cert=self.admin["cacert"],
                            cert_key=self.admin["key"], cert_cert=self.admin["cert"], timeout=10,
                            grpc_options=[("grpc.max_receive_message_length", 1 << 30)])

    def read_all(self, name, serializable=False):
        kw = {"serializable": True} if serializable else {}
        return {m.key.decode(): v for v, m in self.client(name).get_prefix(PREFIX, **kw)}

    def members(self, name):
        r = self.ctl([name], "member", "list", "-w", "json")
        return sorted(m.get("name", "") for m in json.loads(r.stdout)["members"])

    def revision(self, name):
        r = self.ctl([name], "endpoint", "status", "-w", "json")
        return int(json.loads(r.stdout)[0]["Status"]["header"]["revision"])

    def root(self, name):
        return self.hosts[name]["root"]

    def initial_cluster(self, names):
        return ",".join("%s=%s" % (n, self.hosts[n]["peer_url"]) for n in names)

    def backup(self, name, dest):
        r = self.c.ok("backup", dest, "--endpoints", self.hosts[name]["client_url"],
                      "--cacert", self.admin["cacert"], "--cert", self.admin["cert"],
                      "--key", self.admin["key"], "--resources",
                      os.path.join(self.root(name), "etc/kubernetes/static-pod-resources"),
                      "-w", "json", timeout=120)
        return json.loads(r.stdout)

    def runner_pids(self):
        with open(os.path.join(self.dir, "lab.json")) as f:
            return [h["runner_pid"] for h in json.load(f)["hosts"]]

    def down(self):
        self.c.run("lab", "down", "--dir", self.dir, timeout=120)
        # anything left that names the lab's folder dies by PID
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if self.dir.encode() in f.read():
                        os.kill(int(pid), 9)
            except OSError:
                pass


def load(lab, name, n=300, seed=1):
    import random
    rnd = random.Random(seed)
    c = lab.client(name)
    want = {}
    for i in range(n):
        k = "%sns-%02d/obj-%05d" % (PREFIX, i % 7, i)
        v = rnd.randbytes(rnd.randint(100, 3000))
        c.put(k, v)
        want[k] = v
    return want


def tree_digest(root, rels):
    """SHA-256 over every file (path, mode, bytes) under root/rel for each rel."""
    h = hashlib.sha256()
    for rel in rels:
        base = os.path.join(root, rel)
        for d, dirs, files in sorted(os.walk(base)):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                h.update(p.encode())
                st = os.lstat(p)
                h.update(str(st.st_mode).encode())
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as fh:
                        h.update(fh.read())
    return h.hexdigest()


def tree_layout(root, rel):
    """(path, inode) of everything under root/rel: what a refusal must not move,
    create or remove. Not contents: a running etcd without quorum campaigns
    and writes its HardState to its own WAL once per election timeout."""
    out = []
    for d, dirs, files in sorted(os.walk(os.path.join(root, rel))):
        for f in sorted(dirs + files):
            p = os.path.join(d, f)
            out.append((p, os.lstat(p).st_ino))
    return sorted(out)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Procedures(etcdlab.TestCase):
    def setUp(self):
        self.c = etcdlab.cpr()
        self.tmp = tempfile.mkdtemp(prefix="cpr-proc-")
        self.lab = Lab(self.c, self.tmp)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.lab.down)

    def assertServesBackup(self, lab, name, want, serializable=False):
        got = lab.read_all(name, serializable)
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        wrong = [k for k in want if k in got and got[k] != want[k]]
        self.assertFalse(missing or extra or wrong, "%s: %d missing, %d extra, %d wrong (%s)" % (
            name, len(missing), len(extra), len(wrong), (missing + extra + wrong)[:3]))

    # ------------------------------------------------------------------
    def test_lab_lifecycle(self):
        lab = self.lab
        self.assertEqual(lab.names, ["m1", "m2", "m3"])
        for h in lab.hosts.values():
            self.assertTrue(h["ip"].startswith("127."), h)
            self.assertTrue(h["client_url"].endswith(":2379") and h["peer_url"].endswith(":2380"))
            self.assertTrue(os.path.isfile(os.path.join(h["root"],
                                                        "etc/kubernetes/manifests/etcd-member.yaml")))
        self.assertEqual(lab.members("m1"), ["m1", "m2", "m3"])
        st = json.loads(self.c.ok("lab", "status", "--dir", lab.dir, "-w", "json").stdout)
        self.assertTrue(all(h["up"] and h["etcd_answers"] and len(h["running"]) == 5
                            for h in st["hosts"]), st)
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        st = {h["name"]: h for h in json.loads(
            self.c.ok("lab", "status", "--dir", lab.dir, "-w", "json").stdout)["hosts"]}
        self.assertFalse(st["m3"]["up"] or st["m3"]["etcd_answers"] or st["m3"]["running"], st)
        lab.client("m1").put(PREFIX + "while-m3-down", b"x")  # quorum of two
        self.c.ok("lab", "start", "--dir", lab.dir, "m3")
        deadline = time.time() + 60
        while lab.ctl(["m3"], "get", PREFIX + "while-m3-down", check=False).stdout.count(b"x") == 0:
            self.assertLess(time.time(), deadline, "m3 did not catch up after booting again")
            time.sleep(0.2)
        pids = lab.runner_pids()
        self.c.ok("lab", "down", "--dir", lab.dir, timeout=120)
        self.assertFalse(os.path.exists(lab.dir))
        self.assertFalse([p for p in pids if pid_alive(p)], "lab down left runners alive")
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(lab.dir, out, "lab down left a process of the lab")

    def test_lab_workers_are_nodes_the_recovery_api_knows(self):
        """`lab up --workers N`: worker hosts (root, address, no etcd); every host is a Node
        object in etcd, which `recovery-api serve --nodes-from-etcd` reads."""
        lab = Lab(self.c, self.tmp, masters=1, workers=2, name="lab-workers",
                  extra=("--cert-validity", "2h"))
        self.addCleanup(lab.down)
        # --cert-validity: the members' and the admin's certificates end within 2 h
        for crt in (lab.admin["cert"],
                    os.path.join(lab.hosts["m1"]["root"], "etc/ssl/etcd/peer.crt")):
            end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", crt],
                                 capture_output=True, text=True, check=True).stdout
            left = time.mktime(time.strptime(end.strip().split("=", 1)[1],
                                             "%b %d %H:%M:%S %Y GMT")) - time.mktime(time.gmtime())
            self.assertTrue(7000 < left <= 7200 + 5, (crt, end, left))
        workers = {w["name"]: w for w in lab.info["workers"]}
        self.assertEqual(sorted(workers), ["w1", "w2"])
        block = lab.hosts["m1"]["ip"].rsplit(".", 1)[0]
        for w in workers.values():
            self.assertEqual(w["ip"].rsplit(".", 1)[0], block)
            self.assertNotIn(w["ip"], [h["ip"] for h in lab.hosts.values()])
            self.assertTrue(os.path.isdir(os.path.join(w["root"], "var/lib/kubelet/pki")))
            self.assertFalse(os.path.exists(os.path.join(w["root"], "etc/kubernetes/manifests")))
        # etcdctl (the oracle) sees one k8s protobuf Node per host, with its address
        r = lab.ctl(["m1"], "get", "--prefix", "/registry/minions/", "-w", "json")
        kvs = json.loads(r.stdout)["kvs"]
        got = {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]) for kv in kvs}
        self.assertEqual(sorted(got), ["/registry/minions/m1", "/registry/minions/w1",
                                       "/registry/minions/w2"])
        for name, ip in [("m1", lab.hosts["m1"]["ip"])] + [(n, w["ip"]) for n, w in workers.items()]:
            v = got["/registry/minions/" + name]
            self.assertTrue(v.startswith(b"k8s\x00") and b"Node" in v and b"InternalIP" in v, v)
            self.assertIn(ip.encode(), v)
        # the recovery API's inventory from the live etcd
        state = os.path.join(self.tmp, "rapi-state")
        a = lab.admin
        flags = ["--endpoints", lab.hosts["m1"]["client_url"], "--cacert", a["cacert"],
                 "--cert", a["cert"], "--key", a["key"]]
        p = subprocess.Popen([self.c.path, "recovery-api", "serve", "--pki", lab.info["pki"],
                              "--listen", block + ".11:9444", "--state", state,
                              "--nodes-from-etcd", *flags],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.addCleanup(p.stdout.close)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait()))
        line = p.stdout.readline().decode()
        self.assertIn("listening on https://%s.11:9444" % block, line)
        audit = open(os.path.join(state, "audit.log")).read()
        self.assertIn("nodes=3 (0 from -, 3 from etcd)", audit)
        self.c.ok("recovery-api", "stop", "--state", state)
        self.assertEqual(p.wait(timeout=30), 0)
        # an etcd that does not answer: a clear refusal, nothing served
        flags[1] = "https://%s.250:2379" % block
        r = self.c.run("recovery-api", "serve", "--pki", lab.info["pki"], "--listen",
                       block + ".11:9445", "--state", state + "2", "--nodes-from-etcd", *flags,
                       "--dial-timeout", "1s", "--command-timeout", "2s", timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--nodes-from-etcd", r.stderr.decode())
        r = self.c.run("lab", "up", "--dir", os.path.join(self.tmp, "lab-x"), "--workers", "10")
        self.assertNotEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "lab-x", "lab.json")))

    def test_survey_names_the_most_up_to_date_master(self):
        """m3 dies first and misses writes: `cpr survey` reads every data dir
        offline and names m1 or m2, whose WAL reaches at least the index the
        cluster had committed; m3's ends before it."""
        lab = self.lab
        load(lab, "m1", n=50)
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        load(lab, "m1", n=80, seed=2)
        st = json.loads(lab.ctl(["m1"], "endpoint", "status", "-w", "json").stdout)[0]["Status"]
        committed = int(st["raftIndex"])
        self.c.ok("lab", "kill", "--dir", lab.dir, "m1")
        self.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        doc = json.loads(self.c.ok("survey", "--lab", lab.dir, "-w", "json").stdout)
        hosts = {h["name"]: h for h in doc["hosts"]}
        self.assertIn(doc["best"], ("m1", "m2"))
        self.assertGreaterEqual(hosts[doc["best"]]["wal_last_index"], committed)
        self.assertLess(hosts["m3"]["wal_last_index"], committed)
        self.assertEqual({h["cluster_id"] for h in hosts.values()}, {hosts["m1"]["cluster_id"]})
        self.assertEqual(sorted(h["member_name"] for h in hosts.values()), ["m1", "m2", "m3"])
        self.assertFalse(any(h["etcd_running"] for h in hosts.values()))
        # a host whose data dir is not there is named, the others still compared
        empty = os.path.join(self.tmp, "empty-root")
        os.makedirs(empty)
        r = self.c.run("survey", "--root", empty, "--root", lab.root("m3"), "-w", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["best"], lab.root("m3"))
        self.assertIn("no member/", [h for h in doc["hosts"] if h["root"] == empty][0]["error"])

    def test_restore_quorum(self):
        lab = self.lab
        want = load(lab, "m1")
        bdir = os.path.join(self.tmp, "backups")
        man = lab.backup("m2", bdir)
        c = lab.client("m1")
        for i in range(20):
            c.put(PREFIX + "after/%d" % i, b"after the backup")
        deleted = sorted(want)[0]
        c.delete(deleted)
        self.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        r = self.c.ok("restore-quorum", bdir, lab.initial_cluster(["m1"]), "--root",
                      lab.root("m1"), "-w", "json", timeout=300)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertEqual([s["name"] for s in doc["steps"]],
                         ["restore-db", "stop-pods", "swap-data-dir", "restore-resources",
                          "start-pods", "wait-serving", "report"])
        self.assertServesBackup(lab, "m1", want)
        self.assertEqual(lab.members("m1"), ["m1"])
        self.assertGreater(lab.revision("m1"), int(man["revision"]))
        w = subprocess.run([etcdlab.ETCDCTL, "--endpoints", lab.hosts["m1"]["client_url"], "watch",
                            deleted, "--rev", str(int(man["revision"]))], capture_output=True,
                           env=lab.env(), timeout=20)
        self.assertIn(b"compacted", w.stdout + w.stderr)
        aside = [d for d in os.listdir(os.path.join(lab.root("m1"), "var/lib"))
                 if d.startswith("etcd.moved-aside-")]
        self.assertEqual(len(aside), 1, aside)
        self.assertTrue(os.path.isfile(os.path.join(lab.root("m1"), "var/lib", aside[0],
                                                    "member/snap/db")))
        # the pods that are not control plane were never stopped
        self.assertTrue(os.path.isfile(os.path.join(lab.root("m1"),
                                                    "etc/kubernetes/manifests/haproxy.yaml")))

    def test_restore_quorum_on_a_symlinked_data_dir(self):
        """The data dir is a symlink to a disk of its own (as a mount point is):
        it keeps its place, its member/ is swapped inside it, the old member
        is kept beside it, and the survivor serves the backup."""
        lab = self.lab
        want = load(lab, "m1", n=100)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m2", bdir)
        lab.client("m1").put(PREFIX + "after", b"after the backup")
        for n in ("m1", "m2", "m3"):
            self.c.ok("lab", "kill", "--dir", lab.dir, n)
        data = os.path.join(lab.root("m1"), "var/lib/etcd")
        disk = os.path.join(self.tmp, "disk-etcd")
        shutil.move(data, disk)
        os.symlink(disk, data)
        self.c.ok("lab", "start", "--dir", lab.dir, "m1")  # etcd on the symlinked dir, no quorum
        r = self.c.ok("restore-quorum", bdir, lab.initial_cluster(["m1"]), "--root", lab.root("m1"),
                      timeout=300)
        self.assertIn(b"symlink", r.stderr + r.stdout)
        self.assertEqual(os.readlink(data), disk)
        self.assertServesBackup(lab, "m1", want)
        self.assertEqual(lab.members("m1"), ["m1"])
        aside = [d for d in os.listdir(disk) if d.startswith("member.moved-aside-")]
        self.assertEqual(len(aside), 1, os.listdir(disk))
        self.assertTrue(os.path.isfile(os.path.join(disk, aside[0], "snap/db")))
        self.assertFalse(os.path.exists(os.path.join(disk, ".cpr-staged")))

    def test_restore_cluster_lab(self):
        lab = self.lab
        want = load(lab, "m1", seed=2)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m1", bdir)
        lab.client("m1").delete_prefix(PREFIX + "ns-0")
        r = self.c.ok("restore-cluster", bdir, lab.initial_cluster(lab.names), "--lab", lab.dir,
                      "-w", "json", timeout=300)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"], doc)
        self.assertEqual(len(doc["hosts"]), 3)
        self.assertEqual(lab.members("m1"), lab.names)
        for n in lab.names:
            self.assertServesBackup(lab, n, want, serializable=True)
        r = lab.ctl(lab.names, "endpoint", "hashkv", "-w", "json")
        hashes = {h["HashKV"]["hash"] for h in json.loads(r.stdout)}
        self.assertEqual(len(hashes), 1, hashes)

    def test_traps_refused_before_any_change(self):
        lab = self.lab
        want = load(lab, "m1", n=50, seed=3)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m1", bdir)
        root = lab.root("m1")
        rels = ["var/lib/etcd", "etc/kubernetes/manifests", "etc/kubernetes/static-pod-resources"]
        before = tree_digest(root, ["etc/kubernetes"])
        ic = lab.initial_cluster(["m1"])
        cases = [
            ("live old members", [bdir, ic], "m2"),
            ("name not in INITIAL_CLUSTER", [bdir, "elsewhere=" + lab.hosts["m1"]["peer_url"],
                                             "--force"], "INITIAL_CLUSTER"),
            ("malformed INITIAL_CLUSTER", [bdir, "m1=not-a-url", "--force"], "INITIAL_CLUSTER"),
            ("wrong peer URL", [bdir, "m1=https://127.0.0.1:1", "--force"], "INITIAL_CLUSTER"),
            ("missing backup", [os.path.join(self.tmp, "nothing"), ic, "--force"], "nothing"),
        ]
        for what, args, named in cases:
            with self.subTest(trap=what):
                r = self.c.run("restore-quorum", *args, "--root", root, timeout=120)
                self.assertNotEqual(r.returncode, 0, what)
                self.assertIn(named, (r.stdout + r.stderr).decode(), what)
                self.assertEqual(tree_digest(root, ["etc/kubernetes"]), before, what)
        # a backup of another cluster (a lab of its own)
        other = Lab(self.c, os.path.join(self.tmp, "other"), masters=1)
        try:
            obdir = os.path.join(self.tmp, "other-backups")
            other.backup("m1", obdir)
        finally:
            other.down()
        lab.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        lab.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        r = self.c.run("restore-quorum", obdir, ic, "--root", root, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"another cluster", r.stderr)
        # restore-cluster: a backup whose SHA-256 is not the one every master expects
        r = self.c.run("restore-cluster", bdir, lab.initial_cluster(lab.names), "--root", root,
                       "--expect-sha256", "0" * 64, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"SHA-256", r.stderr)
        # --dry-run prints the plan and changes nothing
        r = self.c.ok("restore-quorum", bdir, ic, "--root", root, "--dry-run", timeout=120)
        self.assertIn(b"restore-db", r.stdout)
        self.assertIn(b"swap-data-dir", r.stdout)
        self.assertEqual(tree_digest(root, ["etc/kubernetes"]), before)
        self.assertFalse(os.path.exists(os.path.join(root, "var/lib/cpr/journal/restore-quorum.json")))
        self.assertFalse(any(d.startswith("etcd.") for d in os.listdir(os.path.join(root, "var/lib"))))
        del want, rels

    def test_corrupt_newest_backup_named_and_fallback(self):
        lab = self.lab
        want = load(lab, "m1", n=80, seed=5)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m1", bdir)
        time.sleep(1.1)  # backup stamps have a resolution of one second
        lab.client("m1").put(PREFIX + "in-the-newest-only", b"x")
        newest = lab.backup("m1", bdir)
        db = newest["snapshot"]["path"] if isinstance(newest.get("snapshot"), dict) else None
        if db is None:
            db = sorted(os.path.join(bdir, f) for f in os.listdir(bdir) if f.endswith(".db"))[-1]
        with open(db, "r+b") as f:  # a byte of a page in the middle
            f.seek(os.path.getsize(db) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0xFF]))
        self.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        root = lab.root("m1")
        etcd_dirs = lambda: sorted(d for d in os.listdir(os.path.join(root, "var/lib")) if "etcd" in d)
        before = (tree_digest(root, ["etc/kubernetes"]), tree_layout(root, "var/lib/etcd"), etcd_dirs())
        ic = lab.initial_cluster(["m1"])
        r = self.c.run("restore-quorum", bdir, ic, "--root", root, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(os.path.basename(db).encode(), r.stderr)
        self.assertIn(b"--fallback", r.stderr)
        self.assertEqual((tree_digest(root, ["etc/kubernetes"]), tree_layout(root, "var/lib/etcd"),
                          etcd_dirs()), before)
        r = self.c.ok("restore-quorum", bdir, ic, "--root", root, "--fallback", "-w", "json",
                      timeout=300)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertTrue(doc["plan"]["skipped_backups"], doc["plan"])
        self.assertServesBackup(lab, "m1", want)

    def test_killed_at_every_step_resumes(self):
        lab = self.lab
        want = load(lab, "m1", n=100, seed=4)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m1", bdir)
        self.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        root = lab.root("m1")
        ic = lab.initial_cluster(["m1"])
        steps = ["restore-db", "stop-pods", "swap-data-dir", "restore-resources", "start-pods",
                 "wait-serving", "report"]
        # each kill point in turn, on one run: every re-run resumes the last one
        for step in steps:
            for when in ("before", "after"):
                with self.subTest(fault="%s:%s" % (step, when)):
                    env = dict(os.environ, CPR_STEP_FAULT="%s:%s" % (step, when))
                    r = subprocess.run([self.c.path, "restore-quorum", bdir, ic, "--root", root],
                                       capture_output=True, env=env, timeout=300)
                    self.assertEqual(r.returncode, -9, "the fault point %s:%s was not reached: %s"
                                     % (step, when, r.stderr.decode()[-600:]))
        r = self.c.ok("restore-quorum", bdir, ic, "--root", root, "-w", "json", timeout=300)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertServesBackup(lab, "m1", want)
        self.assertEqual(lab.members("m1"), ["m1"])
        aside = [d for d in os.listdir(os.path.join(root, "var/lib")) if ".moved-aside-" in d]
        self.assertEqual(len(aside), 1, "the old data dir should be kept exactly once: %s" % aside)
        self.assertTrue(os.path.isfile(os.path.join(root, "var/lib", aside[0], "member/snap/db")))
        self.assertFalse(os.path.exists(os.path.join(root, "var/lib/etcd.cpr-staged")))
        journals = os.listdir(os.path.join(root, "var/lib/cpr/journal"))
        self.assertNotIn("restore-quorum.json", journals)  # finished: kept under a stamped name
        self.assertTrue(any(j.startswith("restore-quorum-") for j in journals), journals)

    def test_killed_at_random_moments_resumes(self):
        # SIGKILL after a random delay (seeded; wherever it lands), run again
        # until it completes: the end state is the uninterrupted one
        import random
        rnd = random.Random(20261204)
        lab = self.lab
        want = load(lab, "m1", n=150, seed=6)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m1", bdir)
        self.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        root = lab.root("m1")
        ic = lab.initial_cluster(["m1"])
        for i in range(4):
            p = subprocess.Popen([self.c.path, "restore-quorum", bdir, ic, "--root", root],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.0, 0.5))
            p.kill()
            p.wait()
        r = self.c.run("restore-quorum", bdir, ic, "--root", root, timeout=300)
        if r.returncode != 0:  # a killed run had got to the end: nothing left to do
            self.assertIn(b"already finished", r.stderr, r.stderr)
        self.assertServesBackup(lab, "m1", want)
        self.assertEqual(lab.members("m1"), ["m1"])
        aside = [d for d in os.listdir(os.path.join(root, "var/lib")) if ".moved-aside-" in d]
        self.assertEqual(len(aside), 1, aside)
        self.assertTrue(os.path.isfile(os.path.join(root, "var/lib", aside[0], "member/snap/db")))
        # done once: the same restore again is refused unless --again
        r = self.c.run("restore-quorum", bdir, ic, "--root", root, timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"--again", r.stderr)
        # the moved-aside data dir is the original cluster's (3 members), not a restored one
        r = self.c.ok("snapshot", "status", os.path.join(root, "var/lib", aside[0],
                                                         "member/snap/db"), "-w", "json")
        self.assertEqual(len(json.loads(r.stdout)["members"]), 3)


if __name__ == "__main__":
    etcdlab.main()
