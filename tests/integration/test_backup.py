#!/usr/bin/python3
"""cpr backup against a real 3-member etcd 3.4 cluster.

  consistent  a writer keeps putting keys while the backup streams from a
              follower; etcdctl restores the .db and the restored member has
              exactly the recorded revision and hashKV; manifest SHA-256s and
              sizes match the files; 0600 files in a 0700 dir; the tar.gz
              holds the newest revision of each static pod's resources
  keep        a second backup (from the leader when only it is given) with
              --keep 1 removes the first pair, .db first
  cut         the member frozen mid-stream (--command-timeout ends it) and
              killed mid-stream: the failure is reported, no file is left;
              a re-run with --cluster skips the dead member and succeeds
  refused     nothing listening: exit 1, the endpoint named, no DIR made
  dry-run     --dry-run prints the six steps and makes nothing, not even DIR
  killed      cpr SIGKILLed mid-stream (member frozen), after the stream
              (CPR_STEP_FAULT) and after the publish: the journal is left;
              the re-run reports resumed, removes the killed run's files
              (keeps a published backup) and ends with whole backups only"""
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time

import etcdlab


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_resources(root):
    """An OpenShift 4.3+ static-pod-resources folder: revisions 2 and 11 of
    each component (11 must be taken), etcd-member, and a folder not taken."""
    for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        for rev in (2, 11):
            d = os.path.join(root, "%s-pod-%d" % (comp, rev), "secrets", "tls")
            os.makedirs(d)
            with open(os.path.join(d, "tls.key"), "w") as f:
                f.write("%s-%d" % (comp, rev))
            os.chmod(os.path.join(d, "tls.key"), 0o600)
    os.makedirs(os.path.join(root, "etcd-member"))
    with open(os.path.join(root, "etcd-member", "ca.crt"), "w") as f:
        f.write("ca")
    os.makedirs(os.path.join(root, "kube-apiserver-certs"))


class Writer(threading.Thread):
    """Puts keys into member 0 until stopped; counts them."""

    def __init__(self, port):
        super().__init__(daemon=True)
        import etcd3
        self.client = etcd3.client(host="127.0.0.1", port=port, timeout=30)
        self.stop_flag = threading.Event()
        self.n = 0

    def run(self):
        while not self.stop_flag.is_set():
            self.client.put("/registry/pods/w/p%d" % self.n, "x" * 200)
            self.n += 1

    def stop(self):
        self.stop_flag.set()
        self.join(30)
        self.client.close()


class Backup(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-backup-")
        cls.cl = etcdlab.Cluster(3, workdir=os.path.join(cls.tmp, "cluster"))
        cls.res = os.path.join(cls.tmp, "static-pod-resources")
        make_resources(cls.res)
        # ~30 MB, so that a stream can be caught in flight
        import etcd3
        c = etcd3.client(host="127.0.0.1", port=cls.cl.cports[0], timeout=120)
        blob = os.urandom(100 * 1024)
        for start in range(0, 300, 10):
            c.transaction(compare=[], success=[c.transactions.put("/registry/configmaps/big/c%d" % i, blob)
                                               for i in range(start, start + 10)], failure=[])
        c.close()
        cls.restored = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.restored:
            if p.poll() is None:
                p.terminate()
                p.wait(20)
        cls.cl.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def backup(self, out, *extra, endpoints=None):
        return self.c.run("backup", out, "--resources", self.res, "-w", "json",
                          "--endpoints", endpoints or self.cl.endpoints(), *extra, timeout=180)

    def boot_restored(self, data, client, peer):
        """etcd (member "r") on a restored data dir, healthy: (process, etcdctl argv, env)."""
        p = subprocess.Popen([etcdlab.ETCD, "--name", "r", "--data-dir", data, "--listen-client-urls", client,
                              "--advertise-client-urls", client, "--listen-peer-urls", peer,
                              "--initial-advertise-peer-urls", peer, "--initial-cluster", "r=" + peer,
                              "--logger", "zap", "--log-level", "error"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.restored.append(p)
        ctl = [etcdlab.ETCDCTL, "--endpoints", client, "--dial-timeout=1s"]
        env = {**os.environ, "ETCDCTL_API": "3"}
        t_end = time.time() + 30
        while subprocess.run(ctl + ["endpoint", "health"], capture_output=True, env=env).returncode:
            self.assertLess(time.time(), t_end, "etcd did not start on the restored " + data)
            time.sleep(0.1)
        return p, ctl, env

    def restore_and_hash(self, snap, rev):
        """etcdctl snapshot restore + a throwaway etcd on it: (hashkv at rev, its revision)."""
        d = tempfile.mkdtemp(dir=self.tmp)
        cport, pport = etcdlab.free_ports(2)
        peer, client = "http://127.0.0.1:%d" % pport, "http://127.0.0.1:%d" % cport
        subprocess.run([etcdlab.ETCDCTL, "snapshot", "restore", snap, "--data-dir", d + "/data", "--name", "r",
                        "--initial-cluster", "r=" + peer, "--initial-advertise-peer-urls", peer],
                       check=True, capture_output=True, env={**os.environ, "ETCDCTL_API": "3"})
        p, ctl, env = self.boot_restored(d + "/data", client, peer)
        try:
            hk = json.loads(subprocess.run(ctl + ["endpoint", "hashkv", "--rev", str(rev), "-w", "json"],
                                           capture_output=True, env=env, check=True).stdout)[0]["HashKV"]
            return hk["hash"], hk["header"]["revision"]
        finally:
            p.terminate()
            p.wait(20)

    def test_consistent_backup_while_writing(self):
        out = os.path.join(self.tmp, "consistent")
        writer = Writer(self.cl.cports[0])
        writer.start()
        try:
            time.sleep(0.3)
            r = self.backup(out)
            n_during = writer.n
        finally:
            writer.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(writer.n, 0)
        doc = json.loads(r.stdout)
        # a follower, to spare the leader
        self.assertFalse(doc["member"]["isLeader"])
        leader = self.cl.leader()
        self.assertNotEqual(doc["member"]["endpoint"], self.cl.endpoint(leader))
        stamp = doc["stamp"]
        snap = os.path.join(out, "snapshot_%s.db" % stamp)
        tgz = os.path.join(out, "static_kuberesources_%s.tar.gz" % stamp)
        manifest = os.path.join(out, "backup_%s.json" % stamp)
        self.assertEqual(sorted(os.listdir(out)), sorted(map(os.path.basename, (snap, tgz, manifest))))
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o700)
        for f in (snap, tgz, manifest):
            self.assertEqual(os.stat(f).st_mode & 0o777, 0o600, f)
        # the recorded revision is the file's, hashKV is what a restore gives
        st = etcdlab.etcdctl_status(snap)
        self.assertEqual(st["revision"], doc["revision"])
        hk, restored_rev = self.restore_and_hash(snap, doc["revision"])
        self.assertEqual(hk, doc["hashKV"])
        self.assertEqual(restored_rev, doc["revision"])
        # writes went on after the snapshot: the cluster is ahead of the backup
        now = int(self.cl.ctl_json("get", "x", members=[0])["header"]["revision"])
        self.assertGreater(now, doc["revision"])
        self.assertGreater(n_during, 0)
        # the manifest pairs the files exactly
        with open(manifest) as f:
            m = json.load(f)
        self.assertEqual(m["snapshot"], {"file": os.path.basename(snap), "size": os.path.getsize(snap),
                                         "sha256": sha256(snap)})
        self.assertEqual(m["resources"]["file"], os.path.basename(tgz))
        self.assertEqual(m["resources"]["sha256"], sha256(tgz))
        self.assertEqual(m["resources"]["size"], os.path.getsize(tgz))
        self.assertEqual(m["revision"], doc["revision"])
        self.assertEqual(m["hashKV"], doc["hashKV"])
        # the member agreed at that revision (nothing compacted in between)
        self.assertEqual(m["memberHashKV"]["hash"], m["hashKV"])
        self.assertFalse(m["memberHashKV"]["compactedSinceSnapshot"])
        self.assertEqual(m["etcdVersion"], "3.4.23")
        self.assertEqual(len(m["members"]), 3)
        self.assertEqual(m["resources"]["revisions"], {"kube-apiserver": 11, "kube-controller-manager": 11,
                                                       "kube-scheduler": 11, "etcd": 11})
        ids = {int(x["ID"]) for x in self.cl.ctl_json("member", "list", members=[0])["members"]}
        self.assertEqual({int(x["id"], 16) for x in m["members"]}, ids)
        self.assertEqual(m["clusterID"], "%x" % self.cl.ctl_json("member", "list", members=[0])["header"]["cluster_id"])
        with tarfile.open(tgz) as t:
            names = t.getnames()
            key = t.getmember("static-pod-resources/kube-apiserver-pod-11/secrets/tls/tls.key")
            self.assertEqual(key.mode, 0o600)
            self.assertEqual(t.extractfile(key).read(), b"kube-apiserver-11")
        self.assertIn("static-pod-resources/etcd-member/ca.crt", names)
        self.assertIn("static-pod-resources/etcd-pod-11/secrets/tls/tls.key", names)
        self.assertFalse([n for n in names if "-pod-2" in n or "kube-apiserver-certs" in n], names)

        # keep: a second backup from the leader alone, --keep 1
        time.sleep(1.1)  # a new stamp
        r = self.backup(out, "--keep", "1", endpoints=self.cl.endpoint(leader))
        self.assertEqual(r.returncode, 0, r.stderr)
        doc2 = json.loads(r.stdout)
        self.assertTrue(doc2["member"]["isLeader"])
        self.assertEqual(doc2["pruned"], [stamp])
        self.assertEqual(sorted(os.listdir(out)), sorted(["snapshot_%s.db" % doc2["stamp"],
                                                          "static_kuberesources_%s.tar.gz" % doc2["stamp"],
                                                          "backup_%s.json" % doc2["stamp"]]))

    def wait_for_temp(self, out, timeout=30):
        t_end = time.time() + timeout
        while time.time() < t_end:
            if glob.glob(os.path.join(out, "snapshot_*.db.cpr-tmp-*")):
                return True
            time.sleep(0.002)
        return False

    def test_backup_from_a_lone_survivor(self):
        """Two of three members killed: the survivor has no leader, yet `cpr backup`
        takes its snapshot (Maintenance.Snapshot needs no quorum), says so on stderr
        and in the manifest, and the --no-resources folder restores as a folder
        with every key the survivor had."""
        cl = etcdlab.Cluster(3, workdir=os.path.join(self.tmp, "lone"))
        self.addCleanup(cl.cleanup)
        cl.put_many(300, prefix="/registry/configmaps/lone/cm")
        cl.stop_member(1, signal.SIGKILL)
        cl.stop_member(2, signal.SIGKILL)
        t_end = time.time() + 30  # CheckQuorum: the leader steps down after an election timeout
        while cl.ctl_json("endpoint", "status", members=[0])[0]["Status"].get("leader", 0) != 0:
            self.assertLess(time.time(), t_end, "the survivor kept a leader")
            time.sleep(0.1)
        had = cl.ctl_json("get", "--consistency=s", "--prefix", "", members=[0])
        out = os.path.join(self.tmp, "lone-backup")
        r = self.c.run("backup", out, "--no-resources", "--endpoints", cl.endpoint(0), "-w", "json",
                       "--command-timeout", "2s", timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"no member has quorum", r.stderr)
        doc = json.loads(r.stdout)
        with open(os.path.join(out, "backup_%s.json" % doc["stamp"])) as f:
            m = json.load(f)
        self.assertIs(m["quorum"], False)
        self.assertGreater(m["memberRaftIndex"], 0)
        self.assertGreater(m["raftTerm"], 0)
        self.assertIsNone(m["resources"])
        # the folder (not the .db) restores, and serves every key the survivor had
        cport, pport = etcdlab.free_ports(2)
        peer = "http://127.0.0.1:%d" % pport
        d = os.path.join(self.tmp, "lone-restored")
        self.c.ok("snapshot", "restore", out, "--data-dir", d, "--name", "r",
                  "--initial-cluster", "r=" + peer, "--initial-advertise-peer-urls", peer)
        p, ctl, env = self.boot_restored(d, "http://127.0.0.1:%d" % cport, peer)
        got = json.loads(subprocess.run(ctl + ["get", "--prefix", "", "-w", "json"], capture_output=True,
                                        env=env, check=True).stdout)
        p.terminate()
        p.wait(20)
        self.assertEqual(etcdlab.norm_kvs(got), etcdlab.norm_kvs(had))
        self.assertEqual(len(got["kvs"]), 300)

    def test_cut_stream_leaves_nothing(self):
        cl = self.cl
        leader = cl.leader()
        victim = [i for i in range(3) if i != leader][0]
        out = os.path.join(self.tmp, "cut")
        for how in ("freeze", "kill"):
            p = subprocess.Popen([self.c.path, "backup", out, "--resources", self.res, "--endpoints",
                                  cl.endpoint(victim), "--command-timeout", "1s", "-w", "json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            caught = self.wait_for_temp(out)
            cl.stop_member(victim, signal.SIGSTOP)
            self.assertTrue(caught, "the backup never started streaming")
            if how == "kill":
                time.sleep(0.2)
                cl.stop_member(victim, signal.SIGKILL)
            t0 = time.time()
            stdout, stderr = p.communicate(timeout=60)
            self.assertNotEqual(p.returncode, 0, (how, stderr))
            self.assertEqual(stdout, b"")
            err = stderr.decode()
            self.assertIn("endpoint " + cl.endpoint(victim), err)
            if how == "freeze":
                self.assertIn("no data for 1s (--command-timeout)", err)
                self.assertLess(time.time() - t0, 10)
                cl.resume_member(victim)
            else:
                self.assertIn("Snapshot", err)
            left = os.listdir(out) if os.path.exists(out) else []
            self.assertEqual(left, [], how)
            self.assertFalse(os.path.exists(out), "the run made DIR, the run removes it")
        # a re-run over every member (--cluster: the member list's client URLs) skips the dead one
        alive = [i for i in range(3) if i != victim][0]
        r = self.backup(out, "--no-resources", "--cluster", endpoints=cl.endpoint(alive))
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertNotEqual(doc["member"]["endpoint"], cl.endpoint(victim))
        self.assertTrue(any(cl.endpoint(victim) in w for w in doc["warnings"]), doc["warnings"])
        self.assertEqual(len(os.listdir(out)), 2)
        cl.start_member(victim)
        self.assertTrue(cl.wait_healthy(30))

    def test_refused_endpoint_makes_nothing(self):
        port = etcdlab.free_ports(1)[0]
        out = os.path.join(self.tmp, "refused")
        r = self.backup(out, "--dial-timeout", "1s", endpoints="127.0.0.1:%d" % port)
        self.assertEqual(r.returncode, 1)
        self.assertIn("endpoint 127.0.0.1:%d" % port, r.stderr.decode())
        self.assertIn("connection refused", r.stderr.decode())
        self.assertFalse(os.path.exists(out))
        # a missing --resources folder is named
        r = self.c.run("backup", out, "--resources", os.path.join(self.tmp, "none"),
                       "--endpoints", self.cl.endpoints())
        self.assertEqual(r.returncode, 1)
        self.assertIn("--resources", r.stderr.decode())
        self.assertIn("--no-resources", r.stderr.decode())
        self.assertFalse(os.path.exists(out))

    def test_dry_run_changes_nothing(self):
        out = os.path.join(self.tmp, "dry")
        r = self.c.run("backup", out, "--resources", self.res, "--endpoints", self.cl.endpoints(),
                       "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        text = r.stdout.decode()
        self.assertIn("backup plan for %s (--dry-run: nothing is changed)" % out, text)
        steps = ["choose-member", "prepare", "stream", "verify", "commit", "prune"]
        self.assertEqual([ln.split()[0] for ln in text.splitlines()[1:]], steps)
        doc = json.loads(self.backup(out, "--dry-run").stdout)
        self.assertEqual([s["name"] for s in doc["steps"]], steps)
        self.assertEqual({s["state"] for s in doc["steps"]}, {"planned"})
        self.assertFalse(os.path.exists(out))

    def killed_backup(self, out, fault=None, freeze=None):
        """A cpr backup SIGKILLed: by CPR_STEP_FAULT, or by this test while
        member `freeze` is stopped mid-stream."""
        env = dict(os.environ, CPR_STEP_FAULT=fault) if fault else None
        endpoints = self.cl.endpoint(freeze) if freeze is not None else self.cl.endpoints()
        p = subprocess.Popen([self.c.path, "backup", out, "--resources", self.res, "--endpoints",
                              endpoints, "-w", "json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if freeze is not None:
            caught = self.wait_for_temp(out)
            self.cl.stop_member(freeze, signal.SIGSTOP)
            p.kill()
            p.wait(30)
            self.cl.resume_member(freeze)
            self.assertTrue(caught, "the backup never started streaming")
        stdout, stderr = p.communicate(timeout=120)
        self.assertEqual(p.returncode, -signal.SIGKILL, stderr)
        self.assertEqual(stdout, b"")
        with open(os.path.join(out, ".cpr", "journal", "backup.json")) as f:
            return json.load(f)["facts"]["stamp"]

    def assert_whole_backups(self, out, stamps):
        """DIR holds exactly these backups, each whole, and nothing else."""
        want = []
        for s in stamps:
            want += ["snapshot_%s.db" % s, "static_kuberesources_%s.tar.gz" % s, "backup_%s.json" % s]
            with open(os.path.join(out, "backup_%s.json" % s)) as f:
                m = json.load(f)
            self.assertEqual(m["snapshot"]["sha256"], sha256(os.path.join(out, "snapshot_%s.db" % s)))
            self.assertEqual(m["resources"]["sha256"],
                             sha256(os.path.join(out, "static_kuberesources_%s.tar.gz" % s)))
        self.assertEqual(sorted(os.listdir(out)), sorted(want))

    def test_killed_backup_is_cleaned_up_by_the_rerun(self):
        follower = [i for i in range(3) if i != self.cl.leader()][0]
        for how in ("mid-stream", "stream:after", "commit:after"):
            out = os.path.join(self.tmp, "killed-" + how.replace(":", "-"))
            if how == "mid-stream":
                old = self.killed_backup(out, freeze=follower)
            else:
                old = self.killed_backup(out, fault=how)
            left = os.listdir(out)
            published = how == "commit:after"
            self.assertEqual("snapshot_%s.db" % old in left, published, (how, left))
            if how != "commit:after":
                self.assertTrue([n for n in left if ".cpr-tmp-" in n], (how, left))
            r = self.backup(out)
            self.assertEqual(r.returncode, 0, (how, r.stderr))
            doc = json.loads(r.stdout)
            self.assertTrue(doc["resumed"], how)
            self.assertEqual([s["state"] for s in doc["steps"]], ["done"] * 6, how)
            self.assertNotEqual(doc["stamp"], old)
            err = r.stderr.decode()
            self.assertIn("[backup] resuming an interrupted run", err)
            self.assertRegex(err, r"\[stream\] done in \d+\.\d\ds")
            if published:
                self.assertIn("[prepare] the interrupted run's backup %s was published: kept" % old, err)
                self.assert_whole_backups(out, [old, doc["stamp"]])
            else:
                self.assertIn("of the interrupted run %s" % old, err)
                self.assert_whole_backups(out, [doc["stamp"]])

    def test_a_running_backup_locks_dir(self):
        """A second backup into DIR while one runs is refused: it would take
        the running one's files for a killed run's leftovers."""
        out = os.path.join(self.tmp, "locked")
        os.makedirs(out, mode=0o700)
        import fcntl
        fd = os.open(out, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            r = self.backup(out)
        finally:
            os.close(fd)
        self.assertEqual(r.returncode, 1)
        self.assertIn("another cpr backup is writing into it", r.stderr.decode())
        self.assertEqual(os.listdir(out), [])

if __name__ == "__main__":
    etcdlab.main()
