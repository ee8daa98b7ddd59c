#!/usr/bin/python3
"""cpr member / endpoint / alarm / defrag on a real 3-member etcd 3.4
cluster, compared with etcdctl on the same cluster, and what the operator
sees when members are down:

  a  member list, endpoint status|hashkv|health --cluster, defrag --cluster,
     alarm list: etcdctl's JSON (read at one quiescent moment) and columns
  b  a learner's life: member add --learner (etcdctl's ETCD_* lines), promote
     refused while it is not started, started with those lines, promoted,
     updated, removed; member list equal to etcdctl's after each step
  c  a stopped member (SIGTERM): health/status name it and exit 1, the
     others still answer, failover; a frozen member (SIGSTOP): the dial
     timeout ends the wait; quorum lost: a write ends at --command-timeout"""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import etcdlab


def by_endpoint(docs, key="Endpoint"):
    return sorted(docs, key=lambda d: d[key])


class Members(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-member-")
        cls.cl = etcdlab.Cluster(3, workdir=cls.tmp)
        cls.cl.put_many(200)
        cls.extra = []  # processes this test started itself

    @classmethod
    def tearDownClass(cls):
        for p in cls.extra:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        cls.cl.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cpr_json(self, *args, members=None):
        return self.c.json(*args, "--endpoints", self.cl.endpoints(members))

    # Fields that move on an idle cluster: the backend commits writes up to
    # --backend-batch-interval (100 ms) after they are applied (dbSize,
    # dbSizeInUse), startup publishes member attributes and the cluster version
    # (raft indexes), and a loaded machine can see an election (terms, leader).
    # None of them goes down while no defrag runs, except dbSizeInUse.
    MONOTONIC = ("raftIndex", "raftAppliedIndex", "raftTerm", "raft_term", "dbSize")

    def assertWithin(self, got, before, after, path="doc"):
        """got (cpr) was read between etcdctl's `before` and `after`: the same
        shape, monotonic counters in [before, after], dbSizeInUse in
        (0, dbSize], the leader one of the two etcdctl saw, any other value
        equal to before's or after's."""
        if isinstance(before, dict):
            self.assertIsInstance(got, dict, path)
            self.assertEqual(sorted(got), sorted(before), path + ": fields")
            for k in before:
                p = "%s.%s" % (path, k)
                if k in self.MONOTONIC:
                    self.assertLessEqual(before[k], got[k], p + ": below etcdctl's earlier value")
                    self.assertLessEqual(got[k], after[k], p + ": above etcdctl's later value")
                elif k == "dbSizeInUse":
                    self.assertGreater(got[k], 0, p)
                    self.assertLessEqual(got[k], got["dbSize"], p + " > dbSize")
                elif k == "leader":
                    self.assertIn(got[k], (before[k], after[k]), p)
                else:
                    self.assertWithin(got[k], before[k], after.get(k), p)
        elif isinstance(before, list):
            self.assertIsInstance(got, list, path)
            self.assertEqual(len(got), len(before), path + ": length")
            for i, (g, b, a) in enumerate(zip(got, before, after)):
                self.assertWithin(g, b, a, "%s[%d]" % (path, i))
        else:
            self.assertIn(got, (before, after), path)

    def assertLikeEtcdctl(self, *args, members=None):
        """cpr's JSON for `args` == etcdctl's, read at one quiescent moment:
        etcdctl, cpr, etcdctl; when both etcdctl reads are equal (every
        volatile field above is monotonic or changes only with an applied
        entry, which moves raftAppliedIndex) nothing moved in between and cpr
        must match exactly. Retried while the cluster is busy; if it never
        settles (a loaded machine), the bounds of assertWithin."""
        for attempt in range(20):
            before = self.cl.ctl_json(*args, members=members)
            got = self.cpr_json(*args, members=members)
            after = self.cl.ctl_json(*args, members=members)
            if before == after:
                self.assertEqual(got, before, " ".join(args))
                return
            time.sleep(0.5)
        self.assertWithin(got, before, after, " ".join(args))

    def test_a_lists_and_status_equal_etcdctl(self):
        # one endpoint each: the header names the member that answered
        self.assertLikeEtcdctl("member", "list", members=[1])
        self.assertEqual(len(self.cpr_json("member", "list")["members"]), 3)
        for args in (("endpoint", "status", "--cluster"), ("endpoint", "status")):
            self.assertLikeEtcdctl(*args)
        self.assertLikeEtcdctl("endpoint", "hashkv", "--cluster", members=[0])
        got = etcdlab.strip_volatile(self.cpr_json("endpoint", "health", "--cluster", members=[1]))
        ref = etcdlab.strip_volatile(self.cl.ctl_json("endpoint", "health", "--cluster", members=[1]))
        self.assertEqual(by_endpoint(got, "endpoint"), by_endpoint(ref, "endpoint"))
        self.assertEqual(len(got), 3)
        # exactly one leader, as etcdctl sees it
        rows = self.c.ok("endpoint", "status", "--endpoints", self.cl.endpoints(), "-w", "simple")
        leaders = [ln.split(", ")[4] for ln in rows.stdout.decode().splitlines()]
        self.assertEqual(sorted(leaders), ["false", "false", "true"])
        table = self.c.ok("endpoint", "status", "--endpoints", self.cl.endpoints()).stdout.decode()
        for col in ("ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM",
                    "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"):
            self.assertIn(col, table)
        out = self.c.ok("defrag", "--cluster", "--endpoints", self.cl.endpoint(2)).stdout.decode()
        self.assertEqual(sorted(out.splitlines()),
                         sorted("Finished defragmenting etcd member[%s]" % u for u in self.cl.client_urls))
        self.assertEqual(self.cpr_json("alarm", "list"), self.cl.ctl_json("alarm", "list"))

    def test_b_learner_add_promote_update_remove(self):
        cport, pport = etcdlab.free_ports(2)
        peer, client = "http://127.0.0.1:%d" % pport, "http://127.0.0.1:%d" % cport
        # etcd adds members only once every voter has been connected for 5 s
        t_end = time.time() + 20
        while True:
            r = self.c.run("member", "add", "m3", "--learner", "--peer-urls", peer,
                           "--endpoints", self.cl.endpoints(), "-w", "simple")
            if r.returncode == 0 or b"unhealthy cluster" not in r.stderr or time.time() > t_end:
                break
            self.assertIn(b"connected for 5 s", r.stderr)
            time.sleep(0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertRegex(lines[0], r"^Member [0-9a-f ]{16} added to cluster [0-9a-f ]{16}$")
        env = dict(ln.split("=", 1) for ln in lines[2:])
        self.assertEqual(env["ETCD_NAME"], '"m3"')
        self.assertEqual(env["ETCD_INITIAL_ADVERTISE_PEER_URLS"], '"%s"' % peer)
        self.assertEqual(env["ETCD_INITIAL_CLUSTER_STATE"], '"existing"')
        initial = env["ETCD_INITIAL_CLUSTER"].strip('"')
        self.assertEqual(sorted(initial.split(",")),
                         sorted(self.cl.initial.split(",") + ["m3=" + peer]))
        new_id = int(lines[0].split()[1], 16)
        listed = self.cl.ctl_json("member", "list", members=[0])
        self.assertEqual(self.cpr_json("member", "list", members=[0]), listed)
        learner = [m for m in listed["members"] if m["ID"] == new_id][0]
        self.assertTrue(learner["isLearner"])
        self.assertNotIn("name", learner)  # unstarted
        self.assertIn("unstarted", self.c.ok("member", "list", "--endpoints", self.cl.endpoints())
                      .stdout.decode())

        # not started: etcd refuses the promotion, cpr says so
        r = self.c.run("member", "promote", "%x" % new_id, "--endpoints", self.cl.endpoints())
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"learner", r.stderr)

        log = open(os.path.join(self.tmp, "etcd-m3.log"), "ab")
        p = subprocess.Popen([etcdlab.ETCD, "--name", "m3", "--data-dir", os.path.join(self.tmp, "data-m3"),
                              "--listen-client-urls", client, "--advertise-client-urls", client,
                              "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                              "--initial-cluster", initial, "--initial-cluster-state", "existing",
                              "--logger", "zap", "--log-level", "warn"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.extra.append(p)
        t_end = time.time() + 30
        while True:
            r = self.c.run("member", "promote", "%x" % new_id, "--endpoints", self.cl.endpoints(), "-w", "json")
            if r.returncode == 0 or time.time() > t_end:
                break
            time.sleep(0.3)
        self.assertEqual(r.returncode, 0, r.stderr)
        promoted = json.loads(r.stdout)
        m = [m for m in promoted["members"] if m["ID"] == new_id][0]
        self.assertNotIn("isLearner", m)
        self.assertEqual(self.cpr_json("member", "list", members=[0]),
                         self.cl.ctl_json("member", "list", members=[0]))

        r = self.c.json("member", "update", "%x" % new_id, "--peer-urls", peer + "," + peer.replace(
            "127.0.0.1", "localhost"), "--endpoints", self.cl.endpoints())
        m = [m for m in r["members"] if m["ID"] == new_id][0]
        self.assertEqual(len(m["peerURLs"]), 2)
        self.assertEqual(self.cpr_json("member", "list", members=[0]),
                         self.cl.ctl_json("member", "list", members=[0]))

        r = self.c.ok("member", "remove", "%x" % new_id, "--endpoints", self.cl.endpoints())
        self.assertRegex(r.stdout.decode(), r"^Member +%x removed from cluster [0-9a-f ]{16}\n$" % new_id)
        listed = self.cl.ctl_json("member", "list", members=[0])
        self.assertEqual(len(listed["members"]), 3)
        self.assertEqual(self.cpr_json("member", "list", members=[0]), listed)
        p.send_signal(signal.SIGTERM)
        p.wait(20)
        r = self.c.run("member", "remove", "%x" % new_id, "--endpoints", self.cl.endpoints())
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"member not found", r.stderr)

    def test_c_stopped_and_frozen_members(self):
        cl = self.cl
        cl.stop_member(2)
        dead = cl.endpoint(2)
        r = self.c.run("endpoint", "health", "--endpoints", cl.endpoints(), "-w", "json")
        self.assertEqual(r.returncode, 1)
        health = {h["endpoint"]: h for h in json.loads(r.stdout)}
        self.assertFalse(health[dead]["health"])
        self.assertIn("connection refused", health[dead]["error"])
        self.assertTrue(health[cl.endpoint(0)]["health"] and health[cl.endpoint(1)]["health"])
        r = self.c.run("endpoint", "status", "--endpoints", cl.endpoints(), "-w", "json")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(json.loads(r.stdout)), 2)
        self.assertIn("Failed to get the status of endpoint %s" % dead, r.stderr.decode())
        self.assertIn("connection refused", r.stderr.decode())
        # failover: the dead endpoint first
        got = self.c.json("member", "list", "--endpoints", ",".join([dead, cl.endpoint(0)]))
        self.assertEqual(len(got["members"]), 3)

        # frozen: TCP is accepted by the kernel, nothing answers
        cl.stop_member(1, signal.SIGSTOP)
        try:
            t0 = time.time()
            r = self.c.run("endpoint", "status", "--endpoints", cl.endpoint(1), "--dial-timeout", "1s",
                           "--command-timeout", "1s")
            self.assertEqual(r.returncode, 1)
            self.assertLess(time.time() - t0, 5)
            self.assertIn("could not connect within 1s (--dial-timeout)", r.stderr.decode())
            # one of three left: no quorum, a write ends at the command timeout
            t0 = time.time()
            r = self.c.run("kv", "put", "k", "v", "--endpoints", cl.endpoint(0), "--command-timeout", "1500ms")
            self.assertEqual(r.returncode, 1)
            self.assertLess(time.time() - t0, 6)
            err = r.stderr.decode()
            self.assertTrue("timed out after 1.5s (--command-timeout)" in err or "no leader" in err, err)
            self.assertIn("endpoint " + cl.endpoint(0), err)
        finally:
            cl.resume_member(1)
        cl.start_member(2)
        self.assertTrue(cl.wait_healthy(30))


if __name__ == "__main__":
    etcdlab.main()
