#!/usr/bin/python3
"""`cpr snapshot status` (and verify, ls) against etcdctl on snapshots made
by a real etcd 3.4, one server, snapshots taken as the data set grows:

  basic      puts, overwrites, deletes, leases (one revoked), a txn
  compacted  + a physical compaction
  large      + values of 10 KB .. 50 KB and ~1 MB (overflow pages)
  many       + 100k keys (txns of 2000 puts): branch pages nest
  auth       + auth enabled with a user and a role (saved as root)
  datadir    the stopped member's member/snap/db: no SHA-256 trailer

For each: hash/revision/totalKey/totalSize equal `etcdctl snapshot status`;
the other fields equal what the server said at save time; verify passes;
`ls -w json` equals `etcdctl get --from-key "" -w json` at that revision."""
import os
import shutil
import tempfile

import boltpages as bp
import etcdlab

FOUR = ("hash", "revision", "totalKey", "totalSize")


class Status(etcdlab.TestCase):
    snaps = {}  # stage -> dict(path, revision, live, leases, compact, auth, trailer)

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-status-")
        e = cls.e = etcdlab.Etcd("st", workdir=cls.tmp)
        try:
            cls._build(e)
        except BaseException:
            e.stop()
            raise

    @classmethod
    def _save(cls, stage, compact=0, auth=False):
        e = cls.e
        path = os.path.join(cls.tmp, stage + ".db")
        e.save(path)
        ref = e.get_all()  # same revision: nothing writes in between
        leases = e.ctl("lease", "list").stdout.decode()
        n_leases = len([ln for ln in leases.splitlines() if ln.strip() and not ln.startswith("found")])
        cls.snaps[stage] = dict(path=path, revision=int(ref["header"]["revision"]), ref=ref,
                                live=int(ref.get("count", 0)), leases=n_leases, compact=compact,
                                auth=auth, trailer=True)

    @classmethod
    def _build(cls, e):
        # basic: puts, overwrites, deletes, leases, one txn with several ops
        e.put_many([("/basic/k%04d" % i, "value-%d" % i) for i in range(300)], batch=50)
        for round_ in range(3):
            for i in range(0, 300, 7):
                e.put("/basic/k%04d" % i, "over-%d-%d" % (round_, i))
        for i in range(0, 300, 11):
            e.delete("/basic/k%04d" % i)
        l1, l2, l3 = e.lease(), e.lease(), e.lease()
        for i in range(20):
            e.put("/leased/a%02d" % i, "x" * i, lease=l1)
            e.put("/leased/b%02d" % i, "y" * i, lease=l2)
            e.put("/leased/c%02d" % i, "z", lease=l3)
        e.client.revoke_lease(l3)
        c = e.client
        c.transaction(compare=[], success=[c.transactions.put("/txn/a", "1"), c.transactions.put("/txn/b", "2"),
                                           c.transactions.delete("/basic/k0001")], failure=[])
        e.put("/empty", "")
        cls._save("basic")

        # compacted
        for i in range(300):
            e.put("/basic/k%04d" % (i % 40), "again-%d" % i)
        crev = e.revision() - 100
        e.compact(crev)
        for i in range(50):
            e.put("/after-compact/%02d" % i, "v%d" % i)
        cls._save("compacted", compact=crev)

        # large values: bigger than a page, up to ~1 MB
        rnd = os.urandom
        for i, size in enumerate([10 * 1024, 12345, 50000, 1_000_000, 1_040_000]):
            e.put("/large/v%d" % i, rnd(size))
        e.put("/large/v0", rnd(20000))  # overwrite a large one
        cls._save("large", compact=crev)

        # 100k keys, 2000 puts per txn
        e.put_many((("/many/%06d" % i, "v%d" % (i % 997)) for i in range(100_000)), batch=2000)
        cls._save("many", compact=crev)

        # auth: a user and a role; snapshot save as root
        e.enable_auth()
        cls._save("auth", compact=crev, auth=True)

        # the member's own db file (no trailer), etcd stopped first
        e.stop()
        raw = os.path.join(cls.tmp, "datadir.db")
        shutil.copyfile(os.path.join(e.data, "member", "snap", "db"), raw)
        s = dict(cls.snaps["auth"])
        s.update(path=raw, trailer=False)
        cls.snaps["datadir"] = s

    @classmethod
    def tearDownClass(cls):
        cls.e.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ------------------------------------------------------------------
    def check_status(self, stage):
        s = self.snaps[stage]
        ref = etcdlab.etcdctl_status(s["path"])
        got = self.c.json("snapshot", "status", s["path"])
        self.assertEqual({k: got.get(k) for k in FOUR}, {k: ref[k] for k in FOUR}, stage)
        # the rest against what the live server said
        self.assertEqual(got["revision"], s["revision"], "revision = server revision at save")
        self.assertEqual(got["liveKeys"], s["live"], "liveKeys = etcdctl get count")
        self.assertEqual(got["leases"], s["leases"], "leases = etcdctl lease list")
        self.assertEqual(got["compactRevision"], s["compact"])
        self.assertEqual(got["scheduledCompactRevision"], s["compact"])
        self.assertIs(got["authEnabled"], s["auth"])
        self.assertIs(got["hasHashTrailer"], s["trailer"])
        self.assertEqual(got["pageSize"], 4096)
        self.assertEqual(got["version"], "3.4.0")
        self.assertGreater(got["consistentIndex"], 0)
        self.assertGreater(got["txid"], 0)
        self.assertEqual(got["pages"]["total"], got["totalSize"] // got["pageSize"])
        self.assertEqual(len(got["members"]), 1)
        m = got["members"][0]
        self.assertEqual(m["name"], "st")
        self.assertEqual(m["clientURLs"], [self.e.endpoint])
        self.assertEqual(m["peerURLs"], ["http://127.0.0.1:%d" % self.e.pport])
        self.assertFalse(m["isLearner"])
        names = {b["name"]: b for b in got["buckets"]}
        for b in ("key", "meta", "lease", "members", "cluster", "auth"):
            self.assertIn(b, names)
        self.assertEqual(sum(b["keys"] for b in got["buckets"]), got["totalKey"],
                         "bucket key counts add up to totalKey")
        self.assertTrue(0 < got["fill"] <= 1, got["fill"])
        return got

    def check_verify(self, stage):
        s = self.snaps[stage]
        if s["trailer"]:
            r = self.c.ok("snapshot", "verify", s["path"])
            self.assertIn(b"OK", r.stdout)
        else:
            r = self.c.run("snapshot", "verify", s["path"])
            self.assertEqual(r.returncode, 1, "a file without a trailer needs --skip-hash-check")
            self.assertRegex((r.stdout + r.stderr).decode().lower(), r"trailer|hash|skip-hash-check")
            self.c.ok("snapshot", "verify", s["path"], "--skip-hash-check")
        j = self.c.json("snapshot", "verify", s["path"], "--skip-hash-check")
        self.assertTrue(j["ok"])

    def check_ls(self, stage):
        s = self.snaps[stage]
        got = self.c.json("snapshot", "ls", s["path"])
        self.assertEqual(got["header"]["revision"], s["revision"])
        self.assertEqual(got["count"], s["live"])
        self.assertKvsEqual(got, s["ref"], what="%s: ls vs etcdctl get" % stage)

    def stage(self, name):
        self.check_status(name)
        self.check_verify(name)
        self.check_ls(name)

    def test_basic(self):
        self.stage("basic")

    def test_compacted(self):
        self.stage("compacted")

    def test_large_values(self):
        got = self.check_status("large")
        self.assertGreater(got["pages"]["overflow"], 200, "~1 MB values span > 200 overflow pages")
        self.check_verify("large")
        self.check_ls("large")

    def test_many_keys(self):
        s = self.snaps["many"]
        m = bp.BoltMap(etcdlab.read(s["path"]))
        depth = max(p.depth for p in m.of("leaf", bucket="key"))
        self.assertGreaterEqual(depth, 2, "test data: branch pages should nest in the key bucket")
        self.assertLess(os.path.getsize(s["path"]), 64 << 20)
        got = self.check_status("many")
        self.assertGreater(got["pages"]["branch"], 2)
        self.check_verify("many")
        self.check_ls("many")

    def test_auth(self):
        self.stage("auth")

    def test_datadir_copy(self):
        self.stage("datadir")


if __name__ == "__main__":
    etcdlab.main()
