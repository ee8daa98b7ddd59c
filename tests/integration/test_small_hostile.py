#!/usr/bin/python3
"""What a hostile test found (issue 13), each fault pinned by a test (label
small: the ASan/UBSan build runs it too). Fixtures: real etcd 3.4 snapshots
(tests/fixtures/etcd-formats), damaged here in memory.

- A one-byte change to a top-level bucket's name keeps bbolt's order valid,
  and etcd boots on such a file without that bucket's records: verify and
  restore must refuse it, naming the unknown and the missing bucket.
- Sub-revision bytes (9..16 of a revision key) out of etcd's range.
- A FIFO (named pipe) is refused at once, never waited on.
- A record that fails part-way through `ls -w json|yaml` leaves stdout empty.
- Numbers: strict parsing, a bump past etcd's revision range refused (exit 2).
- --wal-dir clashing with the data dir is refused before anything is written.
- `get --check-hash` checks the trailer; the printed etcd command line is shell-quoted.
- Derivable faults (a freelist naming a leaf): verify tells them apart,
  restore refuses them without --repair, repairs them with it.
"""
import json
import os
import shlex
import shutil
import struct
import tempfile
import time

import boltpages as bp
import etcdlab

FIX = os.path.join(etcdlab.FIXTURES, "etcd-formats")
BUCKETS = ["alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members",
           "members_removed", "meta"]


def root_elements(data):
    """[(name, key offset)] of the root bucket's leaf (every fixture's root is one leaf)."""
    m = bp.BoltMap(data)
    base = m.root * m.page_size
    _, flags, count, _ = struct.unpack_from("<QHHI", data, base)
    assert flags & bp.LEAF, "the root bucket should be a single leaf page"
    out = []
    for e, _, koff, ks, _ in bp.leaf_elems(data, m.page_size, m.root):
        out.append((bytes(data[koff:koff + ks]).decode(), koff, ks))
    return out


def rename_bucket(data, name):
    """`data` with the last byte of bucket `name` changed so the order of the
    root bucket stays valid (as ../shared/acceptance/lib/bucket_mutants.py
    does), trailer recomputed; None when no such byte exists."""
    elems = root_elements(data)
    names = [e[0] for e in elems]
    i = names.index(name)
    _, koff, ks = elems[i]
    prev = names[i - 1] if i else ""
    nxt = names[i + 1] if i + 1 < len(names) else None
    for delta in (1, -1):
        new = name[:-1] + chr((ord(name[-1]) + delta) % 256)
        if prev < new and (nxt is None or new < nxt) and new not in names:
            b = bytearray(data)
            b[koff:koff + ks] = new.encode("latin-1")
            return bp.fix_trailer(bytes(b)) if bp.has_trailer(data) else bytes(b), new
    return None, None


def key_leaf_revisions(data):
    """[(key offset, key size, main, sub, user key)] of the key bucket's
    records, in revision order (tombstones have 18-byte keys)."""
    m = bp.BoltMap(data)
    out = []
    for p in m.of("leaf", bucket="key"):
        for _, _, koff, ks, _ in bp.leaf_elems(data, m.page_size, p.pgid):
            main, = struct.unpack_from(">Q", data, koff)
            sub, = struct.unpack_from(">Q", data, koff + 9)
            v = koff + ks  # the value follows the key
            assert data[v] == 0x0A and data[v + 1] < 0x80
            out.append((koff, ks, main, sub, bytes(data[v + 2:v + 2 + data[v + 1]])))
    return sorted(out, key=lambda t: (t[2], t[3]))


class Hostile(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-hostile-")
        cls.a = etcdlab.read(os.path.join(FIX, "snapA.db"))
        cls.b = etcdlab.read(os.path.join(FIX, "snapB.db"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def text(self, r):
        return (r.stdout + r.stderr).decode("utf-8", "replace")

    def assert_no_member(self, out, what):
        self.assertFalse(os.path.exists(os.path.join(out, "member")), what + " left a member")

    # ------------------------------------------------------------------
    def test_renamed_bucket_refused_by_verify_and_restore(self):
        n = 0
        for fixture, data in (("snapA", self.a), ("snapB", self.b)):
            self.assertEqual([e[0] for e in root_elements(data)], BUCKETS, fixture)
            for name in BUCKETS:
                mutant, new = rename_bucket(data, name)
                if mutant is None:
                    continue
                n += 1
                with self.subTest(fixture=fixture, bucket=name):
                    path = self.write("%s-%s.db" % (fixture, name), mutant)
                    r = self.c.run("snapshot", "verify", path)
                    self.assertEqual(r.returncode, 1, self.text(r))
                    self.assertIn("unknown top-level bucket '%s'" % new, self.text(r))
                    self.assertIn("bucket '%s' is missing" % name, self.text(r))
                    # status reads what is there, and warns
                    st = self.c.run("snapshot", "status", path)
                    self.assertIn(("unknown bucket '%s'" % new).encode("latin-1"), st.stderr)
                    doc = json.loads(self.c.run("snapshot", "verify", path, "-w", "json").stdout)
                    self.assertIs(doc["ok"], False)
                    # the unknown name is damage to the data: never repairable
                    self.assertGreater(doc["faultCount"], doc["repairableCount"])
                    for repair in ([], ["--repair"]):
                        out = os.path.join(self.tmp, "r-%s-%s" % (fixture, name))
                        r = self.c.run("snapshot", "restore", path, "--data-dir", out, *repair)
                        self.assertEqual(r.returncode, 1, self.text(r))
                        self.assertIn("unknown top-level bucket", self.text(r))
                        self.assert_no_member(out, "restore %s" % repair)
                        shutil.rmtree(out, ignore_errors=True)
        self.assertEqual(n, 20, "every bucket of both fixtures should have a rename")

    def test_sub_revision_out_of_range(self):
        revs = key_leaf_revisions(self.b)
        # the last change of a revision: sub 2^32 keeps the order (the next
        # record has a higher main revision), only the range check can tell
        i = next(i for i in range(len(revs) // 2, len(revs) - 1)
                 if revs[i][1] == 17 and revs[i + 1][2] > revs[i][2])
        koff, _, main, _, _ = revs[i]
        b = bytearray(self.b)
        struct.pack_into(">Q", b, koff + 9, 1 << 32)
        path = self.write("sub-huge.db", bp.fix_trailer(bytes(b)))
        r = self.c.run("snapshot", "verify", path)
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assertIn("%d_%d" % (main, 1 << 32), self.text(r))
        out = os.path.join(self.tmp, "r-sub")
        r = self.c.run("snapshot", "restore", path, "--data-dir", out, "--repair")
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assert_no_member(out, "restore of a bad sub revision")

    def test_key_changed_twice_in_one_revision(self):
        # two changes of one transaction made to name the same user key
        # (same length, so only the bytes of the key change): etcd refuses
        # such a transaction, so no etcd ever wrote it
        revs = key_leaf_revisions(self.b)
        pair = next((x, y) for x, y in zip(revs, revs[1:])
                    if x[2] == y[2] and len(x[4]) == len(y[4]) and x[4] != y[4])
        (_, ks, main, _, key), (koff2, ks2, _, sub2, _) = pair
        b = bytearray(self.b)
        v = koff2 + ks2
        b[v + 2:v + 2 + len(key)] = key
        path = self.write("dup-in-txn.db", bp.fix_trailer(bytes(b)))
        r = self.c.run("snapshot", "verify", path)
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assertIn("changed twice in one transaction", self.text(r))
        out = os.path.join(self.tmp, "r-dup")
        r = self.c.run("snapshot", "restore", path, "--data-dir", out)
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assert_no_member(out, "restore of a transaction naming a key twice")

    # ------------------------------------------------------------------
    def test_fifo_is_refused_at_once(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        good = os.path.join(FIX, "snapB.db")
        cmds = [["snapshot", "status", fifo], ["snapshot", "verify", fifo],
                ["snapshot", "ls", fifo], ["snapshot", "get", fifo, "k"],
                ["snapshot", "history", fifo, "k"], ["snapshot", "diff", good, fifo],
                ["snapshot", "restore", fifo, "--data-dir", os.path.join(self.tmp, "r-fifo")]]
        for args in cmds:
            with self.subTest(cmd=args[1]):
                t0 = time.monotonic()
                r = self.c.run(*args, timeout=20)
                self.assertLess(time.monotonic() - t0, 10)
                self.assertIn(r.returncode, (1, 2), self.text(r))
                self.assertIn("FIFO", self.text(r))
        self.assert_no_member(os.path.join(self.tmp, "r-fifo"), "restore of a FIFO")

    def test_empty_path_is_named(self):
        r = self.c.run("snapshot", "status", "")
        self.assertEqual(r.returncode, 2, self.text(r))
        self.assertIn("path is empty", self.text(r))

    # ------------------------------------------------------------------
    def test_failed_ls_prints_no_half_document(self):
        # a KeyValue whose user key still reads but whose next field does not
        # decode (wire type 7), late in the key order (trailer fixed): ls
        # finds it only when it prints that record
        revs = key_leaf_revisions(self.b)
        last = {}
        for t in revs:
            last[t[4]] = t
        # the newest record of a live key, in the second half of the keys
        live = sorted(t for t in last.values() if t[1] == 17)
        koff = live[len(live) * 3 // 4][0]
        v = koff + 17  # the value follows the 17-byte revision key
        b = bytearray(self.b)
        b[v + 2 + self.b[v + 1]] = 0xFF
        path = self.write("bad-record.db", bp.fix_trailer(bytes(b)))
        for fmt in ("table", "json", "yaml"):
            with self.subTest(format=fmt):
                r = self.c.run("snapshot", "ls", path, "-w", fmt)
                self.assertEqual(r.returncode, 1, self.text(r))
                self.assertEqual(r.stdout, b"", "a failed ls printed %r" % r.stdout[:200])
                self.assertTrue(r.stderr.strip())
        # and a sound file still prints one whole document, in every format
        good = os.path.join(FIX, "snapB.db")
        doc = json.loads(self.c.ok("snapshot", "ls", good, "-w", "json").stdout)
        self.assertEqual(doc["count"], len(doc["kvs"]))
        self.assertIn(b"count:", self.c.ok("snapshot", "ls", good, "-w", "yaml").stdout)

    # ------------------------------------------------------------------
    def test_numbers_are_parsed_strictly(self):
        snap = os.path.join(FIX, "snapB.db")
        out = os.path.join(self.tmp, "r-num")
        bad = [
            ["--bump-revision", "9223372036854775808", "--mark-compacted"],
            ["--bump-revision", "18446744073709551616"],
            ["--bump-revision", "9223372036854775807"],  # the sum overflows
            ["--bump-revision", str((1 << 62) - 1)],     # the sum leaves etcd no room
            ["--bump-revision", "0x10"],
            ["--bump-revision", " 5"],
            ["--bump-revision", "+5"],
            ["--bump-revision", "-1"],
            ["--bump-revision", "1e3"],
        ]
        for flags in bad:
            with self.subTest(flags=flags):
                r = self.c.run("snapshot", "restore", snap, "--data-dir", out, *flags)
                self.assertEqual(r.returncode, 2, self.text(r))
                self.assertIn("--bump-revision", self.text(r))
                self.assertFalse(os.path.exists(out), "a refused restore wrote " + out)
        for cmd in (["ls", snap], ["get", snap, "k"]):
            for rev in ("0", "-1", "0x10", " 5", "99999999999999999999"):
                with self.subTest(cmd=cmd[0], rev=rev):
                    r = self.c.run("snapshot", *cmd, "--rev", rev)
                    self.assertEqual(r.returncode, 2, self.text(r))
                    self.assertIn("--rev", self.text(r))
                    self.assertEqual(r.stdout, b"")
        r = self.c.run("snapshot", "ls", snap, "--limit", "-1")
        self.assertEqual(r.returncode, 2, self.text(r))
        # a sane bump works, and says where it lands
        plan = self.c.json("snapshot", "restore", snap, "--data-dir", out, "--bump-revision",
                           "1000000000", "--mark-compacted", "--dry-run")
        self.assertEqual(plan["newRevision"], plan["revision"] + 1000000000)

    def test_wal_dir_clashes_refused_before_writing(self):
        snap = os.path.join(FIX, "snapB.db")
        data = os.path.join(self.tmp, "wal-clash", "data")
        clashes = [data, data + "/", data + "/member", data + "/./member", data + "/member/snap",
                   os.path.dirname(data)]
        for wal in clashes:
            with self.subTest(wal=wal):
                r = self.c.run("snapshot", "restore", snap, "--data-dir", data, "--wal-dir", wal)
                self.assertEqual(r.returncode, 2, self.text(r))
                self.assertIn("--wal-dir", self.text(r))
                self.assertFalse(os.path.exists(data), "a refused restore made " + data)
        # the default layout named explicitly is fine, however it is spelled
        r = self.c.ok("snapshot", "restore", snap, "--data-dir", data, "--wal-dir",
                      data + "/./member/wal/")
        self.assertTrue(os.path.isdir(os.path.join(data, "member", "wal")), self.text(r))
        self.assertEqual(os.listdir(os.path.join(self.tmp, "wal-clash")), ["data"])

    # ------------------------------------------------------------------
    def test_get_checks_the_trailer_on_request(self):
        key = bp.first_user_key(bp.BoltMap(self.b))
        path = self.write("bad-trailer.db", self.b[:-1] + bytes([self.b[-1] ^ 0xFF]))
        r = self.c.run("snapshot", "get", path, key, "--check-hash")
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assertEqual(r.stdout, b"")
        self.assertRegex(self.text(r).lower(), "sha-256|trailer")
        # as status: the trailer only with --check-hash; --skip-hash-check is a no-op
        self.assertTrue(self.c.ok("snapshot", "get", path, key).stdout)
        self.assertTrue(self.c.ok("snapshot", "get", path, key, "--skip-hash-check").stdout)

    def test_printed_etcd_command_is_shell_quoted(self):
        data = os.path.join(self.tmp, "it's a dir", "data dir")
        r = self.c.ok("snapshot", "restore", os.path.join(FIX, "snapB.db"), "--data-dir", data,
                      "--name", "m1", "--initial-cluster", "m1=http://127.0.0.1:2380",
                      "--initial-advertise-peer-urls", "http://127.0.0.1:2380")
        lines = r.stdout.decode().splitlines()
        cmd = lines[lines.index("start it with:") + 1]
        argv = shlex.split(cmd)
        self.assertEqual(argv[0], "etcd")
        self.assertEqual(argv[argv.index("--data-dir") + 1], data)
        self.assertEqual(argv[argv.index("--name") + 1], "m1")

    # ------------------------------------------------------------------
    def freelist_on_leaf(self):
        """snapB as a 3.2-era member's db copied mid-commit leaves it: the
        metas name as the freelist a page that now holds a leaf of the key
        bucket (etcd 3.4 never syncs a freelist, so the fault is made here;
        test_restore.py makes torn copies of a live member)."""
        m = bp.BoltMap(self.b)
        leaf = m.of("leaf", bucket="key")[0].pgid
        data = bp.set_meta(bp.set_meta(self.b, 0, freelist=leaf), 1, freelist=leaf)
        return bp.fix_trailer(data), leaf

    def test_derivable_faults_are_repaired(self):
        data, leaf = self.freelist_on_leaf()
        path = self.write("freelist-leaf.db", data)
        r = self.c.run("snapshot", "verify", path)
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assertIn("all repairable", self.text(r))
        doc = json.loads(self.c.run("snapshot", "verify", path, "-w", "json").stdout)
        self.assertEqual(doc["faultCount"], doc["repairableCount"])
        self.assertTrue(any(str(leaf) in f["what"] for f in doc["faults"]), doc["faults"][:3])
        # without --repair: refused, and the hint names it
        out = os.path.join(self.tmp, "r-repair")
        r = self.c.run("snapshot", "restore", path, "--data-dir", out)
        self.assertEqual(r.returncode, 1, self.text(r))
        self.assertIn("--repair", self.text(r))
        self.assert_no_member(out, "restore without --repair")
        # with it: restored, what was repaired is said, and every key is there
        r = self.c.ok("snapshot", "restore", path, "--data-dir", out, "--repair")
        self.assertIn("repaired", self.text(r))
        db = os.path.join(out, "member", "snap", "db")
        self.c.ok("snapshot", "verify", db, "--skip-hash-check")
        want = self.c.json("snapshot", "ls", os.path.join(FIX, "snapB.db"))
        got = self.c.json("snapshot", "ls", db, "--skip-hash-check")
        self.assertKvsEqual(got, want, what="repaired restore")
        # a missing derivable bucket is repaired too, a missing data bucket never
        for name, repairable in (("members_removed", True), ("lease", False)):
            with self.subTest(missing=name):
                mutant = self.drop_bucket(self.b, name)
                p = self.write("no-%s.db" % name, mutant)
                doc = json.loads(self.c.run("snapshot", "verify", p, "-w", "json").stdout)
                self.assertIs(doc["ok"], False)
                self.assertEqual(doc["faultCount"] == doc["repairableCount"], repairable, doc)
                o = os.path.join(self.tmp, "r-no-" + name)
                r = self.c.run("snapshot", "restore", p, "--data-dir", o, "--repair")
                self.assertEqual(r.returncode, 0 if repairable else 1, self.text(r))
                if repairable:
                    self.c.ok("snapshot", "verify", os.path.join(o, "member", "snap", "db"),
                              "--skip-hash-check")
                else:
                    self.assert_no_member(o, "restore without the lease bucket")

    def drop_bucket(self, data, name):
        """`data` with bucket `name` removed from the root leaf (its element
        dropped, the key/value bytes left as slack), trailer recomputed."""
        m = bp.BoltMap(data)
        base = m.root * m.page_size
        elems = bp.leaf_elems(data, m.page_size, m.root)
        names = [bytes(data[k:k + ks]).decode() for _, _, k, ks, _ in elems]
        i = names.index(name)
        b = bytearray(data)
        keep = [e for j, e in enumerate(elems) if j != i]
        struct.pack_into("<H", b, base + 10, len(keep))
        for j, (e, flags, koff, ks, vs) in enumerate(keep):
            ne = base + 16 + 16 * j
            struct.pack_into("<IIII", b, ne, flags, koff - ne, ks, vs)
        return bp.fix_trailer(bytes(b))


if __name__ == "__main__":
    etcdlab.main()
