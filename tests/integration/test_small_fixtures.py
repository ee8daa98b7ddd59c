#!/usr/bin/python3
"""Smoke test (label small): cpr on the committed real snapshots
tests/fixtures/etcd-formats/snap{A,B}.db. status equals the etcdctl output
recorded beside them (and etcdctl itself), verify accepts them, every
command runs. No etcd server needed: fast, and run under ASan/UBSan."""
import json
import os

import etcdlab

FIX = os.path.join(etcdlab.FIXTURES, "etcd-formats")
SNAPS = ["snapA", "snapB"]
FOUR = ("hash", "revision", "totalKey", "totalSize")


class Fixtures(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()

    def path(self, name):
        return os.path.join(FIX, name + ".db")

    def test_status_equals_recorded_etcdctl(self):
        for name in SNAPS:
            with self.subTest(snapshot=name):
                want = json.loads(etcdlab.read(os.path.join(FIX, name + ".status.json")))
                got = self.c.json("snapshot", "status", self.path(name))
                self.assertEqual({k: got.get(k) for k in FOUR}, want)

    def test_status_equals_live_etcdctl(self):
        for name in SNAPS:
            with self.subTest(snapshot=name):
                want = etcdlab.etcdctl_status(self.path(name))
                got = self.c.json("snapshot", "status", self.path(name))
                self.assertEqual({k: got.get(k) for k in FOUR}, {k: want[k] for k in FOUR})

    def test_status_extra_fields(self):
        a = self.c.json("snapshot", "status", self.path("snapA"))
        self.assertEqual(a["pageSize"], 4096)
        self.assertTrue(a["hasHashTrailer"])
        self.assertEqual(a["compactRevision"], 4)  # fixture README: compaction at rev 4
        self.assertFalse(a["authEnabled"])
        self.assertGreaterEqual(a["leases"], 1)
        self.assertEqual(len(a["members"]), 1)
        self.assertIn("key", {b["name"] for b in a["buckets"]})
        b = self.c.json("snapshot", "status", self.path("snapB"))
        self.assertGreaterEqual(b["pages"]["branch"], 1)
        self.assertGreaterEqual(b["pages"]["overflow"], 1)

    def test_status_table(self):
        for name in SNAPS:
            r = self.c.ok("snapshot", "status", self.path(name))
            self.assertIn(b"HASH", r.stdout.upper())

    def test_verify_ok(self):
        for name in SNAPS:
            with self.subTest(snapshot=name):
                r = self.c.ok("snapshot", "verify", self.path(name))
                self.assertIn(b"OK", r.stdout)
                j = self.c.json("snapshot", "verify", self.path(name))
                self.assertTrue(j["ok"])
                self.assertEqual(j["faults"], [])

    def test_ls_get_history_run(self):
        for name in SNAPS:
            with self.subTest(snapshot=name):
                doc = self.c.json("snapshot", "ls", self.path(name))
                st = self.c.json("snapshot", "status", self.path(name))
                self.assertEqual(doc["header"]["revision"], st["revision"])
                self.assertEqual(doc["count"], len(doc["kvs"]))
                self.assertEqual(doc["count"], st["liveKeys"])
                keys = [etcdlab.unb64(kv["key"]) for kv in doc["kvs"]]
                self.assertEqual(keys, sorted(keys))
                self.assertGreater(len(keys), 0)
                for kv in doc["kvs"][:20]:
                    key = etcdlab.unb64(kv["key"])
                    raw = self.c.ok("snapshot", "get", self.path(name), key, "-w", "raw").stdout
                    self.assertEqual(raw, etcdlab.unb64(kv.get("value", "")))
                    h = self.c.json("snapshot", "history", self.path(name), key)
                    self.assertEqual(h["events"][-1]["type"], "PUT")
                    self.assertEqual(h["events"][-1]["revision"], kv["mod_revision"])

    def test_usage_errors_exit_2(self):
        r = self.c.run("snapshot", "status")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.c.run("snapshot", "no-such-command")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = self.c.run("snapshot", "status", self.path("snapA"), "-w", "xml")
        self.assertEqual(r.returncode, 2, r.stderr)

    def test_missing_file_exit_1(self):
        r = self.c.run("snapshot", "status", os.path.join(FIX, "no-such.db"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"no-such.db", r.stderr)

    def test_help(self):
        self.c.ok("--help")
        self.c.ok("snapshot", "--help")

    def test_file_untouched(self):
        for name in SNAPS:
            p = self.path(name)
            before = (os.stat(p).st_mtime_ns, etcdlab.read(p))
            for cmd in (["status"], ["verify"], ["ls"]):
                self.c.run("snapshot", *cmd, p)
            self.assertEqual(before, (os.stat(p).st_mtime_ns, etcdlab.read(p)))


if __name__ == "__main__":
    etcdlab.main()
