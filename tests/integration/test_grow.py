#!/usr/bin/python3
"""Growing etcd back to full strength after a quorum loss, and quorum from a
survivor's own data (issue 10), on `cpr lab` hosts running real etcd 3.4 with
mutual TLS. Data is written and read with python3-etcd3 and etcdctl over the
lab's admin certificates, never with cpr.

  grow        two fresh hosts (`cpr lab add`) recovered at once with `cpr
              member recover` and certificates from `cpr signer serve`: three
              voting members, healthy, hashkv and data equal, every
              certificate issued by the signer and verifying against the
              lab's CAs, the member token spent, a re-run harmless
  bad etcd    a new member whose etcd cannot start (a bad flag injected)
              never becomes a voter, is removed again, and a writer on the
              survivor loses no acknowledged write
  faults      member recover SIGKILLed before and after every step
              (CPR_STEP_FAULT), then run again: a voting member, the cluster
              serving writes throughout
  from data   writes after the last backup, every master down, survey names
              a host that has them, restore-quorum --from-data-dir keeps all
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import etcdlab
import test_procedures as tp


class Writer:
    """Puts keys to one member until stopped; records what was acknowledged
    and what failed."""

    def __init__(self, lab, name, prefix):
        self.client = lab.client(name)
        self.prefix = prefix
        self.acked, self.failed = {}, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            k, v = "%sw-%05d" % (self.prefix, i), ("v%d" % i).encode()
            try:
                self.client.put(k, v)
                self.acked[k] = v
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.failed.append((k, str(e)[:120]))
            i += 1
            time.sleep(0.02)

    def finish(self):
        self.stop.set()
        self.thread.join(30)
        return self.acked, self.failed


class Grow(etcdlab.TestCase):
    def setUp(self):
        self.c = etcdlab.cpr()
        self.tmp = tempfile.mkdtemp(prefix="cpr-grow-")
        self.lab = tp.Lab(self.c, self.tmp)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.lab.down)
        self.signer_state = os.path.join(self.tmp, "signer")
        self.signer = None

    def tearDown(self):
        if self.signer is not None:
            self.c.run("signer", "stop", "--state", self.signer_state, timeout=60)
            if self.signer.poll() is None:
                self.signer.kill()
            self.signer.wait()

    # -- helpers ---------------------------------------------------------
    def quorum_on_m1(self, n=150):
        """Data on the cluster, a backup, m2 and m3 killed, m1 restored alone."""
        lab = self.lab
        want = tp.load(lab, "m1", n=n, seed=10)
        bdir = os.path.join(self.tmp, "backups")
        lab.backup("m1", bdir)
        for n_ in ("m2", "m3"):
            self.c.ok("lab", "kill", "--dir", lab.dir, n_)
        self.c.ok("restore-quorum", bdir, lab.initial_cluster(["m1"]), "--root", lab.root("m1"),
                  timeout=300)
        return want

    def add_host(self, name, env=None):
        r = subprocess.run([self.c.path, "lab", "add", "--dir", self.lab.dir, name, "-w", "json"],
                           capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        h = json.loads(r.stdout)["hosts"][0]
        self.assertEqual(h["name"], name)
        self.lab.hosts[name] = h
        return h

    def start_signer(self):
        listen = "%s:9943" % self.lab.hosts["m1"]["ip"]
        self.signer = subprocess.Popen(
            [self.c.path, "signer", "serve", "--pki", self.lab.info["pki"], "--listen", listen,
             "--state", self.signer_state], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:  # its state file says when it serves
            if os.path.exists(os.path.join(self.signer_state, "signer.json")):
                return
            self.assertIsNone(self.signer.poll(), "signer serve exited")
            time.sleep(0.05)
        self.fail("signer serve never wrote its state")

    def token(self, name):
        rec = os.path.join(self.tmp, name + ".recovery")
        self.c.ok("signer", "token", name, "--ip", self.lab.hosts[name]["ip"], "--profile",
                  "member", "--kubeconfig", rec, "--state", self.signer_state)
        self.assertEqual(os.stat(rec).st_mode & 0o777, 0o600)
        return rec

    def recover_args(self, name, rec, *extra):
        a = self.lab.admin
        return [self.c.path, "member", "recover", "--name", name, "--peer-url",
                self.lab.hosts[name]["peer_url"], "--endpoints",
                self.lab.hosts["m1"]["client_url"], "--cacert", a["cacert"], "--cert", a["cert"],
                "--key", a["key"], "--kubeconfig", rec, "--root", self.lab.root(name), *extra]

    def member_list(self):
        r = self.lab.ctl(["m1"], "member", "list", "-w", "json")
        return json.loads(r.stdout)["members"]

    # -- tests -----------------------------------------------------------
    def test_two_new_masters_recovered_at_once(self):
        lab = self.lab
        want = self.quorum_on_m1()
        for n in ("m4", "m5"):
            self.add_host(n)
        self.start_signer()
        recs = {n: self.token(n) for n in ("m4", "m5")}
        # --dry-run on a new host: the plan, nothing changed
        r = subprocess.run(self.recover_args("m4", recs["m4"], "--dry-run"), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("add-learner", r.stdout)
        self.assertEqual(len(self.member_list()), 1)
        self.assertFalse(os.listdir(os.path.join(lab.root("m4"), "etc/ssl/etcd")))
        procs = {n: subprocess.Popen(self.recover_args(n, recs[n], "-w", "json"),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in ("m4", "m5")}
        logs = {}
        for n, p in procs.items():
            out, err = p.communicate(timeout=300)
            logs[n] = err
            self.assertEqual(p.returncode, 0, "%s: %s" % (n, err[-1500:]))
            self.assertTrue(json.loads(out)["ok"])
        # one of them waited its turn, and said so
        self.assertTrue(any("waiting" in e for e in logs.values()), logs)
        names = ["m1", "m4", "m5"]
        members = self.member_list()
        self.assertEqual(sorted(m["name"] for m in members), names)
        self.assertFalse([m for m in members if m.get("isLearner")])
        lab.ctl(names, "endpoint", "health")
        r = lab.ctl(names, "endpoint", "hashkv", "-w", "json")
        self.assertEqual(len({h["HashKV"]["hash"] for h in json.loads(r.stdout)}), 1, r.stdout)
        for n in names:
            got = lab.read_all(n, serializable=True)
            self.assertEqual(got, want, n)
        pki = lab.info["pki"]
        for n in ("m4", "m5"):
            certs = os.path.join(lab.root(n), "etc/ssl/etcd")
            for f, ca in (("peer", "ca"), ("server", "ca"), ("metric", "metric-ca")):
                v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(pki, ca + ".crt"),
                                    os.path.join(certs, f + ".crt")], capture_output=True)
                self.assertEqual(v.returncode, 0, "%s %s: %s" % (n, f, v.stdout + v.stderr))
                self.assertEqual(os.stat(os.path.join(certs, f + ".key")).st_mode & 0o777, 0o600)
        # the member token is spent: a fourth certificate is refused
        r = self.c.run("certs", "request", "--kubeconfig", recs["m4"], "--profile", "peer",
                       "--name", "m4", "--ip", lab.hosts["m4"]["ip"], "--dir",
                       os.path.join(self.tmp, "again"), timeout=60)
        self.assertNotEqual(r.returncode, 0)
        # refused before anything changes: a live member's name, a live member's peer URL
        a = lab.admin
        base = [self.c.path, "member", "recover", "--endpoints", lab.hosts["m1"]["client_url"],
                "--cacert", a["cacert"], "--cert", a["cert"], "--key", a["key"], "--kubeconfig",
                recs["m4"]]
        r = subprocess.run(base + ["--name", "m1", "--peer-url", lab.hosts["m4"]["peer_url"],
                                   "--root", lab.root("m4")], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("the name belongs to member", r.stderr)
        r = subprocess.run(base + ["--name", "m6", "--peer-url", lab.hosts["m1"]["peer_url"],
                                   "--root", lab.root("m4")], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("belongs to member m1", r.stderr)
        self.assertEqual(sorted(m["ID"] for m in self.member_list()), sorted(m["ID"] for m in members))
        # a re-run on a joined host changes nothing
        ids = sorted(m["ID"] for m in members)
        r = subprocess.run(self.recover_args("m4", recs["m4"]), capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing to do", r.stdout)
        self.assertEqual(sorted(m["ID"] for m in self.member_list()), ids)

    def test_new_member_whose_etcd_cannot_start_never_votes(self):
        lab = self.lab
        self.quorum_on_m1(n=50)
        # m4's kubelet runs an etcd that refuses its command line
        fake = os.path.join(self.tmp, "badbin")
        os.makedirs(fake)
        with open(os.path.join(fake, "etcd"), "w") as f:
            f.write("#!/bin/sh\nexec %s --no-such-flag \"$@\"\n" % shutil.which("etcd"))
        os.chmod(os.path.join(fake, "etcd"), 0o755)
        self.add_host("m4", env=dict(os.environ, PATH=fake + ":" + os.environ["PATH"]))
        self.start_signer()
        rec = self.token("m4")
        writer = Writer(lab, "m1", tp.PREFIX + "during/")
        voted = []
        done = threading.Event()

        def watch():
            while not done.is_set():
                try:
                    for m in self.member_list():
                        if m.get("peerURLs") == [lab.hosts["m4"]["peer_url"]] and not m.get("isLearner"):
                            voted.append(m)
                except AssertionError:
                    pass
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        r = subprocess.run(self.recover_args("m4", rec, "--wait", "6"), capture_output=True,
                           text=True, timeout=120)
        done.set()
        watcher.join(30)
        acked, failed = writer.finish()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("did not catch up", r.stderr)
        self.assertIn("removed again", r.stderr)
        self.assertFalse(voted, "m4 became a voter")
        self.assertEqual([m["name"] for m in self.member_list()], ["m1"])
        self.assertFalse(failed, failed[:3])
        self.assertGreater(len(acked), 20)
        got = lab.read_all("m1")
        self.assertFalse([k for k in acked if got.get(k) != acked[k]], "acknowledged writes lost")
        stopped = os.path.join(lab.root("m4"), "etc/kubernetes/manifests-stopped")
        self.assertTrue(any(f.startswith("etcd-member.yaml") for f in os.listdir(stopped)))
        self.assertFalse(os.path.exists(
            os.path.join(lab.root("m4"), "etc/kubernetes/manifests/etcd-member.yaml")))

    def test_killed_at_every_step_resumes(self):
        lab = self.lab
        want = self.quorum_on_m1(n=50)
        self.add_host("m4")
        self.start_signer()
        rec = self.token("m4")
        writer = Writer(lab, "m1", tp.PREFIX + "during/")
        steps = ["certificates", "add-learner", "start-etcd", "catch-up", "promote", "report"]
        for step in steps:
            for when in ("before", "after"):
                with self.subTest(fault="%s:%s" % (step, when)):
                    env = dict(os.environ, CPR_STEP_FAULT="%s:%s" % (step, when))
                    r = subprocess.run(self.recover_args("m4", rec), capture_output=True,
                                       env=env, timeout=300)
                    self.assertEqual(r.returncode, -9, "fault point %s:%s not reached: %s"
                                     % (step, when, r.stderr.decode()[-800:]))
        r = subprocess.run(self.recover_args("m4", rec), capture_output=True, text=True,
                           timeout=300)
        acked, failed = writer.finish()
        self.assertEqual(r.returncode, 0, r.stderr[-1500:])
        members = self.member_list()
        self.assertEqual(sorted(m["name"] for m in members), ["m1", "m4"])
        self.assertFalse([m for m in members if m.get("isLearner")])
        lab.ctl(["m1", "m4"], "endpoint", "health")
        self.assertFalse(failed, failed[:3])
        want.update(acked)
        self.assertEqual(lab.read_all("m4", serializable=False), want)

    def test_from_data_dir_keeps_writes_made_after_the_backup(self):
        lab = self.lab
        want = tp.load(lab, "m1", n=100, seed=11)
        lab.backup("m1", os.path.join(self.tmp, "backups"))
        self.c.ok("lab", "kill", "--dir", lab.dir, "m3")
        c = lab.client("m1")
        for i in range(100):
            k, v = "%slate/k%03d" % (tp.PREFIX, i), ("late-%d" % i).encode()
            for _ in range(100):  # a put that timed out during m3's election is retried
                try:
                    c.put(k, v)
                    break
                except Exception:  # noqa: BLE001
                    time.sleep(0.1)
            want[k] = v
        for k in sorted(want)[:5]:
            c.delete(k)
            del want[k]
        self.c.ok("lab", "kill", "--dir", lab.dir, "m1")
        self.c.ok("lab", "kill", "--dir", lab.dir, "m2")
        r = self.c.ok("survey", "--lab", lab.dir, "-w", "json")
        best = json.loads(r.stdout)["best"]
        self.assertIn(best, ("m1", "m2"))
        # the survivor boots again (its etcd alone, without quorum), as a host does
        self.c.ok("lab", "start", "--dir", lab.dir, best)
        root = lab.root(best)
        ic = lab.initial_cluster([best])
        r = self.c.ok("restore-quorum", "--from-data-dir", ic, "--root", root, "--dry-run")
        self.assertIn("snapshot-data-dir", r.stdout.decode())
        # killed mid-way (at its etcd on the copy too), then run again: it resumes
        env = dict(os.environ, CPR_STEP_FAULT="snapshot-data-dir:before")
        r = subprocess.run([self.c.path, "restore-quorum", "--from-data-dir", ic, "--root", root],
                           capture_output=True, env=env, timeout=300)
        self.assertEqual(r.returncode, -9, r.stderr.decode()[-800:])
        p = subprocess.Popen([self.c.path, "restore-quorum", "--from-data-dir", ic, "--root", root],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = os.path.join(root, "var/lib/cpr/from-data-dir/etcd.log")
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None and (
                not os.path.exists(log) or os.path.getsize(log) == 0):
            time.sleep(0.01)
        p.kill()
        p.wait()
        self.assertTrue(os.path.exists(log), "the run was not killed while its etcd ran")
        r = self.c.ok("restore-quorum", "--from-data-dir", ic, "--root", root, "-w", "json",
                      timeout=300)
        self.assertIn(b"left by an interrupted run", r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        self.assertEqual([s["name"] for s in doc["steps"]][:3],
                         ["stop-pods", "snapshot-data-dir", "restore-db"])
        self.assertEqual(lab.members(best), [best])
        self.assertEqual(lab.read_all(best), want)
        aside = [d for d in os.listdir(os.path.join(root, "var/lib")) if ".moved-aside-" in d]
        self.assertEqual(len(aside), 1, aside)
        # no etcd of CPR's own is left running on the copy
        out = subprocess.run(["pgrep", "-f", "force-new-cluster"], capture_output=True, text=True)
        self.assertFalse([p for p in out.stdout.split() if root in open(
            "/proc/%s/cmdline" % p, "rb").read().decode(errors="replace")])


if __name__ == "__main__":
    etcdlab.main()
