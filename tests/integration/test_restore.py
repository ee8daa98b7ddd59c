#!/usr/bin/python3
"""`cpr snapshot restore` on a snapshot of a real etcd 3.4 cluster, with
`etcdctl snapshot restore` (3.4) as the oracle and real etcd booted on
every restored member.

One source server: 100k+ keys (txns of many puts), overwrites, deletes, a
txn, a physical compaction, leases, values of 10 KB and ~1 MB, auth (users
root and alice, role reader), then `etcdctl snapshot save --user root`.
  one member   cpr vs etcdctl, same flags: WAL (64,000,000 bytes) and .snap
               byte-identical, db status hash equal; etcd on cpr's member:
               get --prefix -w json at R == the source's, leases, hashkv at R,
               member list (name, peer URL, ID == etcdctl's), auth enforced,
               a put works; a restore over the running member is refused.
  three        two members restored by cpr, one by etcdctl: quorum, every
               member serves the same data (serializable reads), hashkv equal.
  bump         --bump-revision 1000000 --mark-compacted: next write above
               R+1000000, an old watch and read refused as compacted;
               --bump-revision 1000 alone: next write above R+1000, data intact.
  alarm        a NOSPACE alarm in the snapshot is reported and still set
               after boot; --clear-alarms drops it and writes work.
The fast cases (bad input, crash safety, sources) are in test_small_restore.py."""
import os
import subprocess
import shutil
import tempfile
import time

import grpc

import etcdlab
import restorelab as rl

TOKEN = "cpr-it-restore"


class Restore(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-restore-")
        try:
            e = cls.e = etcdlab.Etcd("src", workdir=cls.tmp)
            try:
                cls._build(e)
            finally:
                e.stop()  # everything needed from it is recorded: free the CPU
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)  # no tearDownClass after a failed setUpClass
            raise

    @classmethod
    def _build(cls, e):
        c = e.client
        # 101k keys in txns of 10k puts (one revision each)
        e.put_many([("/bulk/%06d" % i, "v%06d-%s" % (i, "x" * (i % 40))) for i in range(101_000)],
                   batch=10_000)
        e.put_many([("/bulk/%06d" % i, "over-%d" % i) for i in range(0, 101_000, 40)], batch=1000)
        for start in range(1, 100_000, 25_000):  # 400 deletes in 4 txns
            ops = [c.transactions.delete("/bulk/%06d" % i) for i in range(start, start + 25_000, 250)]
            c.transaction(compare=[], success=ops, failure=[])
        for v in ("h1", "h2", None, "h4"):
            e.delete("/hist/a") if v is None else e.put("/hist/a", v)
        cls.compacted = e.revision()
        e.put_many([("/bulk/%06d" % i, "after-compaction") for i in range(3, 100_000, 997)], batch=500)
        e.compact(cls.compacted)
        l1, l2, cls.l3 = e.lease(), e.lease(), e.lease()
        for i in range(5):
            e.put("/lease/a%d" % i, "a", lease=l1)
        for i in range(3):
            e.put("/lease/b%d" % i, "b", lease=l2)
        e.put("/large/10k", os.urandom(10 * 1024))
        e.put("/large/1m", os.urandom(1_000_000))
        cls.before_txn = e.revision()
        c.transaction(compare=[], success=[c.transactions.put("/txn/x", "1"), c.transactions.put("/txn/y", "2"),
                                           c.transactions.delete("/bulk/000002")], failure=[])
        for i in range(5):
            e.put("/app/cfg%d" % i, "app%d" % i)
        e.enable_auth()
        e.ctl("put", "/app/after-auth", "root wrote this")  # python-etcd3 cannot auth over plaintext
        cls.user = e.user
        cls.snap = e.save(os.path.join(cls.tmp, "snap.db"))
        cls.R = e.revision()
        cls.status = etcdlab.etcdctl_status(cls.snap)
        assert cls.status["revision"] == cls.R, (cls.status, cls.R)
        cls.ref = e.get_all(rev=cls.R)
        assert cls.ref["count"] > 100_000, cls.ref["count"]
        cls.ref_leases = sorted(int(x["id"]) for x in e.ctl_json("lease", "list").get("leases") or [])
        h = e.ctl_json("endpoint", "hashkv", "--rev=%d" % cls.R)[0]["HashKV"]
        cls.ref_hashkv = (int(h["hash"]), int(h.get("compact_revision", 0)))
        # hashkv at several revisions, for `cpr snapshot hashkv` (offline) to match:
        # just above the compaction, between, and the newest
        # the member as it was at earlier revisions, for --to-revision
        cls.ref_at = {r: e.get_all(rev=r) for r in (cls.compacted, cls.compacted + 1, cls.before_txn)}
        cls.ref_hashkvs = {}
        for r in sorted({cls.compacted + 1, cls.compacted + 2, (cls.compacted + cls.R) // 2,
                         cls.R - 3, cls.R - 1, cls.R}):
            h = e.ctl_json("endpoint", "hashkv", "--rev=%d" % r)[0]["HashKV"]
            cls.ref_hashkvs[r] = (int(h["hash"]), int(h["header"]["revision"]),
                                  int(h.get("compact_revision", 0)))

    @classmethod
    def tearDownClass(cls):
        cls.e.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def dirs(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        return d

    def member(self, name, data, peer_port, cluster, **kw):
        m = rl.Member(name, data, peer_port, cluster, self.tmp, user=self.user, **kw)
        self.addCleanup(m.stop)
        return m

    def assertServesSource(self, m, what):
        """Keys, values, revisions and leases at R, and hashkv at R, as the source's."""
        self.assertKvsEqual(m.get_all(rev=self.R), self.ref, what=what + " at R")
        self.assertEqual(m.leases(), self.ref_leases, what + ": leases")
        self.assertEqual(m.hashkv(self.R), self.ref_hashkv, what + ": hashkv --rev R")

    # ---------------------------------------------------------- one member
    def test_one_member_like_etcdctl(self):
        w = self.dirs("one")
        pport = etcdlab.free_port_pair()[1]
        peer = "http://127.0.0.1:%d" % pport
        cluster = "r1=" + peer
        got, ref = os.path.join(w, "cpr"), os.path.join(w, "etcdctl")
        plan = self.c.json("snapshot", "restore", self.snap, "--dry-run",
                           *rl.restore_flags("r1", cluster, TOKEN, peer, got))
        self.assertFalse(os.path.exists(got), "--dry-run wrote nothing")
        self.c.ok("snapshot", "restore", self.snap, *rl.restore_flags("r1", cluster, TOKEN, peer, got))
        rl.etcdctl_restore(self.snap, rl.restore_flags("r1", cluster, TOKEN, peer, ref))
        gw, gs, gdb = rl.member_paths(got)
        rw, rs, rdb = rl.member_paths(ref)
        self.assertEqual(os.path.getsize(gw), rl.WAL_BYTES)
        self.assertEqual(rl.file_sha(gw), rl.file_sha(rw), "WAL differs from etcdctl's")
        self.assertEqual([os.path.basename(p) for p in gs], [os.path.basename(p) for p in rs])
        self.assertEqual(etcdlab.read(gs[0]), etcdlab.read(rs[0]), ".snap differs from etcdctl's")
        gst, rst = etcdlab.etcdctl_status(gdb), etcdlab.etcdctl_status(rdb)
        self.assertEqual((gst["hash"], gst["revision"], gst["totalKey"]),
                         (rst["hash"], rst["revision"], rst["totalKey"]), "db status vs etcdctl's")
        cst = self.c.json("snapshot", "status", gdb)
        self.assertEqual(cst["hash"], rst["hash"])
        self.assertEqual(cst["consistentIndex"], 1)
        mid, cid = rl.wal_meta(rw)
        self.assertEqual((plan["memberID"], plan["clusterID"]), (mid, cid), "dry-run IDs vs etcdctl's")

        m = self.member("r1", got, pport, cluster)
        self.assertServesSource(m, "cpr-restored member")
        self.assertKvsEqual(m.get_all(), self.ref, what="latest")
        ms, mcid = m.member_list()
        self.assertEqual(ms, [(mid, "r1", (peer,))])
        self.assertEqual(mcid, cid)
        # auth is still on: no user, wrong user, a read-only user
        r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", m.endpoint, "get", "/app/cfg1"],
                                   capture_output=True, env=m._env())
        self.assertNotEqual(r.returncode, 0, "a read without a user must be refused")
        self.assertNotEqual(m.ctl("get", "/app/cfg1", user="root:wrong", check=False).returncode, 0)
        a = m.ctl_json("get", "/app/cfg1", user="alice:alicepw")
        self.assertEqual(etcdlab.unb64(a["kvs"][0]["value"]), b"app1")
        r = m.ctl("put", "/app/cfg1", "x", user="alice:alicepw", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"permission denied", r.stderr)
        r = m.ctl("get", "/bulk/000000", user="alice:alicepw", check=False)
        self.assertIn(b"permission denied", r.stderr)
        # restoring over the running member is refused, even with --move-aside
        r = self.c.run("snapshot", "restore", self.snap, "--move-aside",
                       *rl.restore_flags("r1", cluster, TOKEN, peer, got))
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr.decode(), r"running|locked")
        self.assertEqual(sorted(os.listdir(got)), ["member"])
        # writes work
        self.assertEqual(m.put_rev("/after/restore", "ok"), self.R + 1)
        self.assertEqual(etcdlab.unb64(m.get_key("/after/restore")["kvs"][0]["value"]), b"ok")
        m.stop()
        # etcdctl's member: the same identity
        m2 = self.member("r1", ref, pport, cluster)
        self.assertEqual(m2.member_list(), (ms, mcid))
        self.assertEqual(m2.hashkv(self.R), self.ref_hashkv)

    # -------------------------------------------------------- three members
    def test_three_members_cpr_and_etcdctl(self):
        w = self.dirs("three")
        ports = etcdlab.free_ports(3)
        names = ["m0", "m1", "m2"]
        peers = ["http://127.0.0.1:%d" % p for p in ports]
        cluster = ",".join("%s=%s" % np for np in zip(names, peers))
        token = TOKEN + "-3"
        data = [os.path.join(w, n) for n in names]
        plans = []
        for i in range(3):
            flags = rl.restore_flags(names[i], cluster, token, peers[i], data[i])
            if i < 2:
                plans.append(self.c.json("snapshot", "restore", self.snap, *flags))
            else:
                rl.etcdctl_restore(self.snap, flags)
        snaps = [etcdlab.read(rl.member_paths(d)[1][0]) for d in data]
        self.assertEqual(snaps[0], snaps[2], ".snap of cpr's members == etcdctl's")
        self.assertEqual(snaps[1], snaps[2])
        self.assertEqual(etcdlab.etcdctl_status(rl.member_paths(data[0])[2])["hash"],
                         etcdlab.etcdctl_status(rl.member_paths(data[2])[2])["hash"])
        want = sorted((x["id"], x["name"], tuple(x["peerURLs"])) for x in plans[0]["members"])
        self.assertEqual(rl.wal_meta(rl.member_paths(data[2])[0]),
                         ([x[0] for x in want if x[1] == "m2"][0], plans[0]["clusterID"]))
        ms = [self.member(names[i], data[i], ports[i], cluster, wait=False) for i in range(3)]
        rl.wait_all(ms)
        for i, m in enumerate(ms):
            with self.subTest(member=names[i]):
                local = m.ctl_json("get", "--consistency=s", "--from-key", "--rev=%d" % self.R, "--", "")
                self.assertKvsEqual(local, self.ref, what="%s (serializable)" % names[i])
                self.assertEqual(m.hashkv(self.R), self.ref_hashkv)
                self.assertEqual(m.member_list(), (want, plans[0]["clusterID"]))
        rev = ms[2].put_rev("/after/three", "ok")
        self.assertEqual(rev, self.R + 1)
        self.assertEqual(etcdlab.unb64(ms[0].get_key("/after/three")["kvs"][0]["value"]), b"ok")
        self.assertEqual(ms[1].ctl_json("get", "--consistency=s", "/after/three")["header"]["revision"],
                         rev)

    # --------------------------------------------------------------- bump
    def boot_bumped(self, name, *extra):
        w = self.dirs(name)
        pport = etcdlab.free_port_pair()[1]
        peer = "http://127.0.0.1:%d" % pport
        d = os.path.join(w, "data")
        self.c.ok("snapshot", "restore", self.snap, *rl.restore_flags("b", "b=" + peer, TOKEN, peer, d), *extra)
        return self.member("b", d, pport, "b=" + peer)

    def test_bump_and_mark_compacted(self):
        bump = 1_000_000
        plan = self.c.json("snapshot", "restore", self.snap, "--dry-run", "--bump-revision", bump,
                           "--mark-compacted")
        self.assertEqual(plan["newRevision"], self.R + bump)
        m = self.boot_bumped("bump-mark", "--bump-revision", bump, "--mark-compacted")
        latest = m.get_all()
        self.assertGreaterEqual(int(latest["header"]["revision"]), self.R + bump)
        self.assertKvsEqual(latest, self.ref, what="latest after the bump")
        self.assertEqual(m.leases(), self.ref_leases)
        rev = m.put_rev("/after/bump", "x")
        self.assertGreater(rev, self.R + bump)
        # a client that cached revision R must relist
        out = m.watch_from("/bulk/000000", self.R)
        self.assertIn("compacted", out)
        r = m.ctl("get", "--rev=%d" % self.R, "/bulk/000000", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"compacted", r.stderr)
        # the newest state stays readable, and watches from now on work
        self.assertEqual(etcdlab.unb64(m.get_key("/after/bump", rev=rev)["kvs"][0]["value"]), b"x")

    def test_bump_without_mark(self):
        m = self.boot_bumped("bump", "--bump-revision", 1000)
        self.assertServesSource(m, "after --bump-revision 1000")
        self.assertKvsEqual(m.get_all(), self.ref, what="latest after the bump")
        rev = m.put_rev("/after/bump", "x")
        self.assertGreater(rev, self.R + 1000)
        # R itself is not compacted: an old read still works
        self.assertKvsEqual(m.get_key("/hist/a", rev=self.R), self.hist_ref(), what="/hist/a at R")

    def test_mark_compacted_keeps_what_etcds_own_compaction_keeps(self):
        """--mark-compacted writes only the newest revision of each live key: the
        same member as a plain bumped restore that etcd itself then compacts at the
        bump (keys, values, create/mod revisions, versions, leases, hashkv)."""
        bump = 1000
        ours = self.boot_bumped("compact-cpr", "--bump-revision", bump, "--mark-compacted")
        theirs = self.boot_bumped("compact-etcd", "--bump-revision", bump)
        theirs.ctl("compact", self.R + bump, "--physical")
        self.assertKvsEqual(ours.get_all(), theirs.get_all(), what="compacting restore vs etcd's compaction")
        self.assertEqual(ours.leases(), theirs.leases())
        # hashkv at the current revision (the compacted one itself is refused)
        self.assertEqual(ours.hashkv(0), theirs.hashkv(0))
        self.assertEqual(ours.hashkv(0)[1], self.R + bump)
        for m in (ours, theirs):
            self.assertEqual(int(m.get_all()["header"]["revision"]), self.R + bump)
        # and the db holds exactly one record per live key
        ours.stop()
        status = self.c.json("snapshot", "status", rl.member_paths(ours.data)[2])
        key_bucket = [b for b in status["buckets"] if b["name"] == "key"][0]
        self.assertEqual(key_bucket["keys"], len(self.ref["kvs"]))
        self.assertEqual(status["liveKeys"], len(self.ref["kvs"]))

    def test_hashkv_offline_equals_etcds(self):
        """`cpr snapshot hashkv` = `etcdctl endpoint hashkv --rev R` of the member
        the snapshot was taken from, at every sampled R; refused as etcd refuses."""
        for r, want in self.ref_hashkvs.items():
            with self.subTest(rev=r):
                got = self.c.json("snapshot", "hashkv", self.snap, "--rev", r)
                self.assertEqual((got["hash"], got["revision"], got["compact_revision"]), want)
        self.assertEqual(self.c.json("snapshot", "hashkv", self.snap)["hash"], self.ref_hashkv[0])
        self.assertEqual(self.c.json("snapshot", "status", self.snap)["hashKV"],
                         {"hash": self.ref_hashkv[0], "revision": self.R,
                          "compact_revision": self.ref_hashkv[1]})
        for r, word in ((self.compacted, b"compacted"), (self.R + 1, b"future revision")):
            out = self.c.run("snapshot", "hashkv", self.snap, "--rev", r)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn(word, out.stderr)
            self.assertEqual(out.stdout, b"")
        # a restored member (bumped and compacted by the restore) answers what
        # the offline hash of its own db says
        m = self.boot_bumped("hashkv-member", "--bump-revision", 10, "--mark-compacted")
        h, comp = m.hashkv(0)
        m.stop()
        got = self.c.json("snapshot", "hashkv", rl.member_paths(m.data)[2], "--skip-hash-check")
        self.assertEqual((got["hash"], got["compact_revision"]), (h, comp))

    def test_to_revision(self):
        """--to-revision R: the restored member serves exactly what the original
        served at R (etcdctl get --rev R), for R at the compaction, just above it,
        and just before a transaction that deleted a key; out of range refused."""
        for r, ref in self.ref_at.items():
            with self.subTest(rev=r):
                w = self.dirs("pitr-%d" % r)
                pport = etcdlab.free_port_pair()[1]
                peer = "http://127.0.0.1:%d" % pport
                d = os.path.join(w, "data")
                out = self.c.json("snapshot", "restore", self.snap, "--to-revision", r,
                                  *rl.restore_flags("p", "p=" + peer, TOKEN, peer, d))
                self.assertEqual(out["toRevision"], r)
                self.assertGreater(out["afterRevisionLeftOut"], 0)
                m = self.member("p", d, pport, "p=" + peer)
                got = m.get_all()
                self.assertKvsEqual(got, ref, what="restored --to-revision %d" % r)
                self.assertEqual(int(got["header"]["revision"]), r)
                m.stop()
        # with a bump the new revisions start past the snapshot's newest, not past R
        m = self.boot_bumped("pitr-bump", "--to-revision", self.before_txn, "--bump-revision", 100,
                             "--mark-compacted")
        self.assertKvsEqual(m.get_all(), self.ref_at[self.before_txn], what="--to-revision + bump")
        self.assertGreater(m.put_rev("/after/pitr", "x"), self.R + 100)
        for bad in (self.compacted - 1, self.R + 1):
            r = self.c.run("snapshot", "restore", self.snap, "--to-revision", bad, "--data-dir",
                           os.path.join(self.tmp, "pitr-bad-%d" % bad))
            self.assertEqual(r.returncode, 2, r.stderr)  # a flag out of range
            self.assertIn(b"--to-revision", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.tmp, "pitr-bad-%d" % bad)))
        r = self.c.run("snapshot", "restore", self.snap, "--to-time", "2026-01-01T00:00:00Z",
                       "--data-dir", os.path.join(self.tmp, "pitr-time"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--to-revision", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "pitr-time")))

    def test_to_revision_names_leases_gone_since(self):
        """A key alive at R under a lease revoked after R comes back, and the
        restore names the lease it can no longer attach."""
        e = etcdlab.Etcd("lease-src", workdir=self.dirs("lease-src"))
        self.addCleanup(e.stop)
        lid = e.lease()
        e.put("/leased/k", "v", lease=lid)
        at = e.revision()
        e.client.revoke_lease(lid)
        e.put("/later", "x")
        snap = e.save(os.path.join(self.tmp, "lease-snap.db"))
        e.stop()
        pport = etcdlab.free_port_pair()[1]
        peer = "http://127.0.0.1:%d" % pport
        d = os.path.join(self.dirs("lease-pitr"), "data")
        r = self.c.ok("snapshot", "restore", snap, "--to-revision", at,
                      *rl.restore_flags("l", "l=" + peer, TOKEN, peer, d))
        self.assertIn(b"%x" % lid, r.stderr)
        self.assertIn(b"never expire", r.stderr)
        m = self.member("l", d, pport, "l=" + peer)
        kv = m.get_key("/leased/k")["kvs"][0]
        self.assertEqual((etcdlab.unb64(kv["value"]), int(kv["lease"])), (b"v", lid))
        self.assertEqual(m.get_key("/later").get("kvs"), None)

    def hist_ref(self):
        kvs = [kv for kv in self.ref["kvs"] if etcdlab.unb64(kv["key"]) == b"/hist/a"]
        return {"kvs": kvs}

    # -------------------------------------------------------------- alarm
    def test_nospace_alarm(self):
        w = self.dirs("alarm")
        # etcd checks the quota against the db size recorded at the last backend
        # commit (every --backend-batch-interval, 100 ms by default), not the
        # size after the writes in flight: on a fast machine 40 puts of 100 KB
        # fit between two commits and none is refused. --backend-batch-limit 1
        # commits after every write, so each put sees the size its predecessors
        # made and the quota is hit after a handful of puts on any machine.
        src = etcdlab.Etcd("full", workdir=w, extra=["--quota-backend-bytes", str(1 << 20),
                                                     "--backend-batch-limit", "1"])
        try:
            refused = None
            for i in range(200):  # 20 MB of values against a 1 MB quota
                try:
                    src.put("/fill/%d" % i, os.urandom(100_000))
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    refused = (i, e.details())
                    break
            self.assertIsNotNone(refused, "200 puts of 100 KB under a 1 MB quota: none refused")
            self.assertIn("database space exceeded", refused[1])
            self.assertGreater(refused[0], 0, "the first put should fit in 1 MB")
            # the refusal raises the alarm through raft; wait for it to be applied
            t_end = time.time() + 30
            while b"NOSPACE" not in src.ctl("alarm", "list").stdout and time.time() < t_end:
                time.sleep(0.1)
            self.assertIn(b"NOSPACE", src.ctl("alarm", "list").stdout,
                          "put %d refused, yet no NOSPACE alarm" % refused[0])
            snap = src.save(os.path.join(w, "full.db"))
        finally:
            src.stop()
        pport = etcdlab.free_port_pair()[1]
        peer = "http://127.0.0.1:%d" % pport
        for clear in (False, True):
            with self.subTest(clear_alarms=clear):
                d = os.path.join(w, "r%d" % clear)
                extra = ["--clear-alarms"] if clear else []
                r = self.c.ok("snapshot", "restore", snap, *rl.restore_flags("a", "a=" + peer, TOKEN, peer, d),
                              *extra)
                if clear:
                    self.assertNotIn(b"NOSPACE", r.stderr)
                else:
                    self.assertRegex(r.stderr.decode(), r"warning.*NOSPACE")
                m = rl.Member("a", d, pport, "a=" + peer, w)
                try:
                    alarms = m.ctl("alarm", "list").stdout
                    put = m.ctl("put", "/after", "x", check=False)
                    if clear:
                        self.assertEqual(alarms.strip(), b"")
                        self.assertEqual(put.returncode, 0, put.stderr)
                    else:
                        self.assertIn(b"NOSPACE", alarms)
                        self.assertNotEqual(put.returncode, 0)
                finally:
                    m.stop()


if __name__ == "__main__":
    etcdlab.main()
