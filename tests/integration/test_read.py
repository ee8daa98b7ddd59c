#!/usr/bin/python3
"""`cpr snapshot ls|get|history|diff` against what a live etcd 3.4 serves.

One server; a data set with overwrites, deletes, leases, a txn (several ops
in one revision), binary keys, an empty value, values of 10 KB .. ~1 MB and
a physical compaction; snapshot S1, then known changes, snapshot S2.
  ls     -w json at S1's revision == `etcdctl get --from-key ""` at it; with
         --rev R (older, at the compaction) == `etcdctl get --rev R`; PREFIX,
         --keys-only, --limit; below compaction / above latest refused.
  get    -w raw == the value bytes; -w json == etcdctl's kv; --rev; a
         deleted or absent key exits 1.
  history  of put/put/delete/put == the server's answer at each revision.
  diff   S1 S2: added/removed/changed == what was changed."""
import os
import shutil
import tempfile

import etcdlab

b64, unb64, norm_kv = etcdlab.b64, etcdlab.unb64, etcdlab.norm_kv


class Read(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-read-")
        e = cls.e = etcdlab.Etcd("rd", workdir=cls.tmp)
        try:
            cls._build(e)
        except BaseException:
            e.stop()
            raise

    @classmethod
    def _build(cls, e):
        cls.oracle = {}  # (key, rev) -> etcdctl get KEY --rev rev -w json, taken at once
        cls.events = {}  # key -> [(type, rev)]

        def op(key, value=None, lease=None):
            rev = e.delete(key) if value is None else e.put(key, value, lease=lease)
            cls.events.setdefault(key, []).append(("DELETE" if value is None else "PUT", rev))
            cls.oracle[(key, rev)] = e.get_key(key, rev=rev)
            return rev

        e.put_many([("/r/k%03d" % i, "v%d" % i) for i in range(300)], batch=60)
        # a key whose early history goes away with the compaction
        cls.hc = "/r/compacted-history"
        op(cls.hc, "c1")
        op(cls.hc, "c2")
        # a key deleted before the compaction: no record of it is left
        op("/r/gone-before", "x")
        op("/r/gone-before")
        cls.c_rev = e.revision()
        for i in range(0, 300, 3):
            e.put("/r/k%03d" % i, "over%d" % i)
        cls.mid = e.revision()
        e.compact(cls.c_rev)
        op(cls.hc, "c3")
        # put, put, delete, put
        cls.h = "/r/history"
        cls.h_revs = [op(cls.h, "h1"), op(cls.h, "h2-longer"), op(cls.h), op(cls.h, "h4")]
        for i in range(1, 300, 10):
            e.delete("/r/k%03d" % i)
        # leases
        cls.l1, cls.l2 = e.lease(), e.lease()
        for i in range(10):
            e.put("/lease/a%d" % i, "a", lease=cls.l1)
            e.put("/lease/b%d" % i, "b", lease=cls.l2)
        # one txn: several ops, one revision, sub-revisions 0..2
        c = e.client
        c.transaction(compare=[], success=[c.transactions.put("/txn/x", "1"), c.transactions.put("/txn/y", "2"),
                                           c.transactions.delete("/r/k002")], failure=[])
        # odd keys and values (no NUL: they go through argv)
        cls.bin_key = b"/bin/\xff\xfe\x01 key with spaces"
        e.put(cls.bin_key, bytes(range(1, 256)))
        e.put("/bin/empty", b"")
        e.put("/bin/unicode-\u00e9\u4e2d", "\u00e9\u4e2d".encode())
        # values larger than a page
        cls.large = {}
        for i, size in enumerate([10 * 1024, 100 * 1000, 1_000_000]):
            k = "/large/%d" % i
            cls.large[k] = os.urandom(size)
            e.put(k, cls.large[k])
        cls.s1 = e.save(os.path.join(cls.tmp, "s1.db"))
        cls.r1 = e.revision()
        cls.ref1 = e.get_all()

        # known changes between S1 and S2
        cls.added = {"/r/new%d" % i for i in range(5)} | {"/diff/only-in-b"}
        for k in sorted(cls.added):
            e.put(k, "new")
        cls.removed = {"/r/k000", "/r/k003", "/lease/a0", "/large/1"}
        for k in cls.removed:
            e.delete(k)
        cls.changed = {"/r/k006", "/r/k009", "/large/0", "/lease/b0", "/r/k012", "/r/k015"}
        e.put("/r/k006", "changed value")
        e.put("/r/k009", "over9")                      # same value, version +1: changed
        e.put("/large/0", os.urandom(10 * 1024))
        e.put("/lease/b0", "b")                         # lease dropped, same value
        l3 = e.lease()
        e.put("/r/k012", "over12", lease=l3)           # lease added, same value
        e.put("/r/k015", "v15-changed")
        cls.s2 = e.save(os.path.join(cls.tmp, "s2.db"))
        cls.r2 = e.revision()
        cls.ref2 = e.get_all()

    @classmethod
    def tearDownClass(cls):
        cls.e.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # ---------------------------------------------------------------- ls
    def test_ls_latest_equals_etcd(self):
        got = self.c.json("snapshot", "ls", self.s1)
        self.assertEqual(got["header"]["revision"], self.r1)
        self.assertEqual(got["count"], self.ref1["count"])
        self.assertKvsEqual(got, self.ref1, what="ls S1")
        got = self.c.json("snapshot", "ls", self.s2)
        self.assertKvsEqual(got, self.ref2, what="ls S2")

    def test_ls_rev_older_equals_etcd(self):
        for rev in (self.mid, self.c_rev, self.c_rev + 1, self.h_revs[2], self.r1 - 1, self.r1):
            with self.subTest(rev=rev):
                got = self.c.json("snapshot", "ls", self.s1, "--rev", rev)
                ref = self.e.get_all(rev=rev)
                self.assertEqual(got["header"]["revision"], rev)
                self.assertEqual(got["count"], ref.get("count", 0))
                self.assertKvsEqual(got, ref, what="ls --rev %d" % rev)

    def test_ls_rev_compacted_refused(self):
        r = self.c.run("snapshot", "ls", self.s1, "--rev", self.c_rev - 1)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"compacted", r.stderr)
        # etcd refuses it too
        r = self.e.ctl("get", "--from-key", "--rev=%d" % (self.c_rev - 1), "", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"compacted", r.stderr)

    def test_ls_rev_future_refused(self):
        r = self.c.run("snapshot", "ls", self.s1, "--rev", self.r1 + 1)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"future", r.stderr)

    def test_ls_prefix(self):
        for prefix in ("/r/", "/lease/", "/large/", "/bin/", "/nothing/", "/r/k00"):
            with self.subTest(prefix=prefix):
                got = self.c.json("snapshot", "ls", self.s1, prefix)
                ref = self.e.get_all(rev=self.r1, prefix=prefix)
                self.assertEqual(got.get("count", 0), ref.get("count", 0))
                self.assertKvsEqual(got, ref, what="ls %s" % prefix)

    def test_ls_keys_only(self):
        got = self.c.json("snapshot", "ls", self.s1, "--keys-only")
        ref = self.e.get_all(rev=self.r1, keys_only=True)
        self.assertKvsEqual(got, ref, keys_only=True, what="ls --keys-only")
        self.assertFalse(any("value" in kv for kv in got["kvs"]), "--keys-only omits value")

    def test_ls_limit(self):
        full = self.c.json("snapshot", "ls", self.s1, "/r/")
        got = self.c.json("snapshot", "ls", self.s1, "/r/", "--limit", 5)
        self.assertEqual(got["count"], full["count"])
        self.assertEqual(got["kvs"], full["kvs"][:5])
        self.assertIs(got.get("more"), True)

    def test_ls_table(self):
        r = self.c.ok("snapshot", "ls", self.s1, "/r/")
        # etcdctl-style tables may start with a border line
        head = next(ln for ln in r.stdout.decode().splitlines() if "KEY" in ln.upper()).upper()
        for col in ("KEY", "CREATE REV", "MOD REV", "VERSION", "LEASE", "SIZE"):
            self.assertIn(col, head)
        self.assertIn(b"/r/k004", r.stdout)

    # --------------------------------------------------------------- get
    def test_get_raw_and_json(self):
        for kv in self.ref1["kvs"]:
            key = unb64(kv["key"])
            with self.subTest(key=key):
                raw = self.c.ok("snapshot", "get", self.s1, key, "-w", "raw").stdout
                self.assertEqual(raw, unb64(kv.get("value", "")))
                got = self.c.json("snapshot", "get", self.s1, key)
                self.assertEqual(got.get("count"), 1)
                self.assertEqual([norm_kv(k) for k in got["kvs"]], [norm_kv(kv)])

    def test_get_large_values_exact(self):
        for k, v in self.large.items():
            raw = self.c.ok("snapshot", "get", self.s1, k, "-w", "raw").stdout
            self.assertEqual(len(raw), len(v), k)
            self.assertEqual(raw, v, k)

    def test_get_rev(self):
        for key in ("/r/k003", "/r/k006", self.h, self.hc):
            for rev in (self.c_rev, self.mid, self.h_revs[1], self.r1):
                with self.subTest(key=key, rev=rev):
                    ref = self.e.get_key(key, rev=rev)
                    r = self.c.run("snapshot", "get", self.s1, key, "--rev", rev, "-w", "json")
                    if not ref.get("kvs"):
                        self.assertEqual(r.returncode, 1, r.stdout[:300])
                        continue
                    self.assertEqual(r.returncode, 0, r.stderr)
                    got = etcdlab.json.loads(r.stdout)
                    self.assertEqual(etcdlab.norm_kvs(got), etcdlab.norm_kvs(ref))

    def test_get_deleted_or_absent_exits_1(self):
        for key in ("/r/k001", "/r/k002", "/r/gone-before", "/no/such/key"):
            with self.subTest(key=key):
                for w in ("raw", "json", "yaml", "table"):
                    r = self.c.run("snapshot", "get", self.s1, key, "-w", w)
                    self.assertEqual(r.returncode, 1)
                    self.assertTrue(r.stderr.strip())
                    if w == "raw":
                        self.assertEqual(r.stdout, b"")
        # deleted at h_revs[2], back at h_revs[3]
        r = self.c.run("snapshot", "get", self.s1, self.h, "--rev", self.h_revs[2])
        self.assertEqual(r.returncode, 1)

    def test_get_yaml_and_table(self):
        r = self.c.ok("snapshot", "get", self.s1, "/r/k004", "-w", "yaml")
        self.assertIn(b"v4", r.stdout)
        self.c.ok("snapshot", "get", self.s1, "/r/k004", "-w", "table")

    # ----------------------------------------------------------- history
    def check_history(self, path, key, want_revs):
        got = self.c.json("snapshot", "history", path, key)
        self.assertEqual(unb64(got["key"]), key.encode())
        evs = got["events"]
        self.assertEqual([(e["type"], e["revision"]) for e in evs],
                         [(t, r) for t, r in self.events[key] if r in want_revs])
        for ev in evs:
            ref = self.oracle[(key, ev["revision"])]
            if ev["type"] == "PUT":
                self.assertEqual([norm_kv(ev["kv"])], etcdlab.norm_kvs(ref), ev)
            else:
                self.assertEqual(ref.get("kvs", []), [], "the server has no key at a delete")
                self.assertEqual(unb64(ev["kv"]["key"]), key.encode())
                self.assertEqual(ev["kv"]["mod_revision"], ev["revision"])

    def test_history_put_put_delete_put(self):
        self.check_history(self.s1, self.h, set(self.h_revs))
        self.check_history(self.s2, self.h, set(self.h_revs))

    def test_history_after_compaction(self):
        # c1 is gone; c2 (the last record at or before the compaction) stays
        revs = [r for _, r in self.events[self.hc]]
        self.check_history(self.s1, self.hc, set(revs[1:]))

    def test_history_txn_sub_revisions(self):
        got = self.c.json("snapshot", "history", self.s1, "/r/k002")
        last = got["events"][-1]
        self.assertEqual(last["type"], "DELETE")
        self.assertEqual(last["sub"], 2)
        x = self.c.json("snapshot", "history", self.s1, "/txn/y")["events"]
        self.assertEqual([(e["revision"], e["sub"]) for e in x], [(last["revision"], 1)])

    def test_history_absent_exits_1(self):
        for key in ("/r/gone-before", "/no/such/key"):
            r = self.c.run("snapshot", "history", self.s1, key)
            self.assertEqual(r.returncode, 1, key)

    # -------------------------------------------------------------- diff
    def test_diff(self):
        d = self.c.json("snapshot", "diff", self.s1, self.s2)
        keys = lambda lst: {unb64(kv["key"]).decode() for kv in lst}
        self.assertEqual(keys(d["added"]), self.added)
        self.assertEqual(keys(d["removed"]), self.removed)
        self.assertEqual({unb64(c["key"]).decode() for c in d["changed"]}, self.changed)
        n2 = self.ref2["count"]
        self.assertEqual(d["summary"], {"added": len(self.added), "removed": len(self.removed),
                                        "changed": len(self.changed),
                                        "unchanged": n2 - len(self.added) - len(self.changed)})
        # the records are the servers' own
        a = {norm_kv(kv)[0]: norm_kv(kv) for kv in self.ref1["kvs"]}
        b = {norm_kv(kv)[0]: norm_kv(kv) for kv in self.ref2["kvs"]}
        for kv in d["added"]:
            self.assertEqual(norm_kv(kv), b[unb64(kv["key"])])
        for kv in d["removed"]:
            self.assertEqual(norm_kv(kv), a[unb64(kv["key"])])
        for c in d["changed"]:
            self.assertEqual(norm_kv(c["a"]), a[unb64(c["key"])])
            self.assertEqual(norm_kv(c["b"]), b[unb64(c["key"])])

    def test_diff_rev_what_changed_since(self):
        """--rev reads A at an older revision: one file against itself shows what
        changed in it since then, as etcd's own get --rev R and newest say."""
        keys = lambda lst: {unb64(kv["key"]) for kv in lst}
        new = {unb64(kv["key"]): norm_kv(kv) for kv in self.ref1["kvs"]}
        for rev in (self.mid, self.h_revs[2], self.r1 - 1):
            with self.subTest(rev=rev):
                d = self.c.json("snapshot", "diff", self.s1, self.s1, "--rev", rev)
                old = {unb64(kv["key"]): norm_kv(kv)
                       for kv in self.e.get_all(rev=rev).get("kvs", [])}
                self.assertEqual(keys(d["added"]), set(new) - set(old))
                self.assertEqual(keys(d["removed"]), set(old) - set(new))
                self.assertEqual(keys(d["changed"]),
                                 {k for k in set(old) & set(new) if old[k] != new[k]})
                self.assertGreater(len(d["added"]) + len(d["removed"]) + len(d["changed"]), 0)
        # --rev-b: S2 read back at S1's revision is S1
        d = self.c.json("snapshot", "diff", self.s1, self.s2, "--rev-b", self.r1)
        self.assertEqual((d["added"], d["removed"], d["changed"]), ([], [], []))
        self.assertEqual(d["summary"]["unchanged"], self.ref1["count"])
        r = self.c.run("snapshot", "diff", self.s1, self.s2, "--rev-b", self.c_rev - 1)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(b"--rev-b", r.stderr)
        self.assertIn(b"compacted", r.stderr)

    def test_diff_prefix_and_exit_code(self):
        d = self.c.json("snapshot", "diff", self.s1, self.s2, "/lease/")
        self.assertEqual({unb64(kv["key"]).decode() for kv in d["removed"]}, {"/lease/a0"})
        self.assertEqual({unb64(c["key"]).decode() for c in d["changed"]}, {"/lease/b0"})
        self.assertEqual(d["added"], [])
        same = self.c.json("snapshot", "diff", self.s1, self.s1)
        self.assertEqual((same["added"], same["removed"], same["changed"]), ([], [], []))
        self.assertEqual(same["summary"]["unchanged"], self.ref1["count"])
        self.assertEqual(self.c.run("snapshot", "diff", self.s1, self.s1, "--exit-code").returncode, 0)
        self.assertEqual(self.c.run("snapshot", "diff", self.s1, self.s2, "--exit-code").returncode, 3)
        self.assertEqual(self.c.run("snapshot", "diff", self.s1, self.s2).returncode, 0)


def crc32c(data):
    """CRC-32C (Castagnoli, reflected 0x82F63B78), as etcd's values are summed."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def forge_crc(value, target):
    """`value` with its last 4 bytes chosen so that its CRC-32C is `target`.
    A CRC is affine in those 32 bits over GF(2): solve for them."""
    head = value[:-4]
    f = lambda t: crc32c(head + t.to_bytes(4, "little"))
    base = f(0)
    # columns: what each of the 32 bits flips in the CRC
    rows = [(f(1 << i) ^ base, 1 << i) for i in range(32)]
    want, basis = target ^ base, []
    for col, bits in rows:  # Gaussian elimination on (effect, bits) pairs
        for bcol, bbits in basis:
            if col ^ bcol < col:
                col, bits = col ^ bcol, bits ^ bbits
        if col:
            basis.append((col, bits))
            basis.sort(reverse=True)
    t = 0
    for bcol, bbits in basis:
        if want ^ bcol < want:
            want, t = want ^ bcol, t ^ bbits
    assert want == 0, "CRC-32C not reachable"
    out = head + t.to_bytes(4, "little")
    assert crc32c(out) == target and len(out) == len(value)
    return out


class DiffExact(etcdlab.TestCase):
    """diff never calls two values equal on size, version, lease and CRC-32C
    alone: pairs that agree on all four are read and compared (by the walk's
    thread or the visitor's, whichever has the time; etcd/live_scan.cc).
    Values forged to share a CRC-32C must show as changed, wherever they
    fall in the batches the walk hands over."""
    KEYS = 3000
    FORGED = (10, 600, 1030, 1600, 2100, 2990)  # both halves of several batches
    REWRITTEN = (5, 1500)  # deleted and put back with the same value: unchanged

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-diffx-")
        e = etcdlab.Etcd("dx", workdir=cls.tmp)
        try:
            key = lambda i: "/d/k%05d" % i
            value = lambda i: (b"value-%05d-" % i) * 8
            e.put_many([(key(i), value(i)) for i in range(cls.KEYS)], batch=500)
            cls.a = e.save(os.path.join(cls.tmp, "a.db"))
            cls.forged = {}
            for i in cls.FORGED:
                old = value(i)
                new = forge_crc(b"forged-%05d-" % i + old[13:], crc32c(old))
                assert new != old and len(new) == len(old)
                e.delete(key(i))  # back to version 1, as in a
                e.put(key(i), new)
                cls.forged[key(i)] = new
            for i in cls.REWRITTEN:
                e.delete(key(i))
                e.put(key(i), value(i))
            cls.b = e.save(os.path.join(cls.tmp, "b.db"))
        finally:
            e.stop()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_forged_crcs_are_changes(self):
        d = self.c.json("snapshot", "diff", self.a, self.b)
        changed = {unb64(c["key"]).decode(): c for c in d["changed"]}
        self.assertEqual(set(changed), set(self.forged))
        for k, c in changed.items():
            self.assertEqual(unb64(c["b"]["value"]), self.forged[k])
            self.assertEqual(c["a"]["version"], c["b"]["version"])
        self.assertEqual(d["summary"], {"added": 0, "removed": 0, "changed": len(self.FORGED),
                                        "unchanged": self.KEYS - len(self.FORGED)})
        table = self.c.run("snapshot", "diff", self.a, self.b).stdout
        self.assertIn(b"0 added, 0 removed, %d changed, %d unchanged"
                      % (len(self.FORGED), self.KEYS - len(self.FORGED)), table)


if __name__ == "__main__":
    etcdlab.main()
