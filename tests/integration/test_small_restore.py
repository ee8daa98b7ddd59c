#!/usr/bin/python3
"""`cpr snapshot restore`, the fast cases (label small: the ASan build runs
them too), on the real etcd 3.4 snapshots in tests/fixtures/etcd-formats
with `etcdctl snapshot restore` (3.4) as the oracle.

  identity   same flags as etcdctl -> byte-identical 64,000,000-byte WAL and
             .snap, equal member/cluster IDs (WAL metadata), equal db status
             hash; 1 and 3 members; etcdctl's defaults (§5.1); modes.
  dry-run    prints IDs and paths, writes nothing; -w json IDs == etcdctl's.
  bad input  corrupt sources (flipped byte, truncated, wrong trailer, bbolt
             damage under a good trailer), a raw db without
             --skip-hash-check, bad --name/--initial-cluster/URLs,
             --mark-compacted alone, an existing member or --wal-dir:
             non-zero exit, a message naming the fault, nothing written.
  move-aside the old member (and WAL dir) renamed into a timestamped folder.
  sources    backup folder (newest pair, --stamp, manifest SHA-256 right and
             wrong, warning without manifest), legacy tar.gz.
  crash      CPR_RESTORE_FAULT=<step> SIGKILLs cpr at each step, into a new
             data dir, an existing empty one, and with --wal-dir: the target
             then holds no member or a complete one (etcd boots it), and a
             re-run succeeds and leaves no .cpr-restore-* behind."""
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import struct
import tarfile
import tempfile
import time

import boltpages as bp
import etcdlab
import restorelab as rl

FIX = os.path.join(etcdlab.FIXTURES, "etcd-formats")
SNAP_A = os.path.join(FIX, "snapA.db")
SNAP_B = os.path.join(FIX, "snapB.db")
STEPS = ("staging", "db", "wal", "snap", "synced", "wal-renamed", "committed")
TOKEN = "tok-small"


class SmallRestore(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        for tool in (etcdlab.ETCD, etcdlab.ETCDCTL):
            if not os.access(tool, os.X_OK):
                raise RuntimeError("%s not found: run scripts/setup.sh" % tool)
        cls.tmp = tempfile.mkdtemp(prefix="cpr-srestore-")
        cls.n = 0
        # one member r1 on a free peer port (crash cases boot etcd on it)
        cls.pport = etcdlab.free_port_pair()[1]
        cls.peer = "http://127.0.0.1:%d" % cls.pport
        cls.cluster = "r1=" + cls.peer
        cls.ref = {}
        try:
            for tag, snap in (("A", SNAP_A), ("B", SNAP_B)):
                d = os.path.join(cls.tmp, "ref" + tag)
                rl.etcdctl_restore(snap, cls.flags_for(d))
                cls.ref[tag] = cls.describe(d)
            cls.ls_a = cls.c.json("snapshot", "ls", SNAP_A)
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)  # no tearDownClass after a failed setUpClass
            raise

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def flags_for(cls, data, wal=None):
        return rl.restore_flags("r1", cls.cluster, TOKEN, cls.peer, data, wal)

    @classmethod
    def describe(cls, data, wal_dir=None):
        """What identifies a restored member: WAL sha and size, .snap names
        and bytes, db status (etcdctl), IDs from the WAL."""
        wal, snaps, db = rl.member_paths(data, wal_dir)
        return {"wal_size": os.path.getsize(wal), "wal_sha": rl.file_sha(wal),
                "snaps": {os.path.basename(s): etcdlab.read(s) for s in snaps},
                "db": etcdlab.etcdctl_status(db), "ids": rl.wal_meta(wal)}

    def work(self, name):
        self.__class__.n += 1
        d = os.path.join(self.tmp, "%s-%d" % (name, self.n))
        os.makedirs(d)
        return d

    def restore(self, source, *args):
        return self.c.run("snapshot", "restore", source, *args)

    # ------------------------------------------------------------ asserts
    def assertLikeRef(self, data, tag="A", wal_dir=None, what=""):
        """A complete member, equal to etcdctl's restore of the same snapshot."""
        wal, snaps, db = rl.member_paths(data, wal_dir)
        for p in (wal, db):
            self.assertTrue(os.path.isfile(p), "%s: %s missing" % (what, p))
        self.assertTrue(snaps, "%s: no .snap in %s" % (what, data))
        got, ref = self.describe(data, wal_dir), self.ref[tag]
        self.assertEqual(got["wal_size"], rl.WAL_BYTES, what)
        self.assertEqual(got["wal_sha"], ref["wal_sha"], what + ": WAL differs from etcdctl's")
        self.assertEqual(got["snaps"], ref["snaps"], what + ": .snap differs from etcdctl's")
        self.assertEqual(got["db"]["hash"], ref["db"]["hash"], what + ": db status hash")
        self.assertEqual(got["db"]["revision"], ref["db"]["revision"], what)
        self.assertEqual(got["db"]["totalKey"], ref["db"]["totalKey"], what)
        self.assertEqual(got["ids"], ref["ids"], what)

    def assertModes(self, data, wal_dir=None):
        """Files 0600, dirs 0700: everything the restore wrote (data: a data dir
        it created; pass data/member for one that existed)."""
        for root in [data] + ([wal_dir] if wal_dir else []):
            for dp, dns, fns in os.walk(root):
                self.assertEqual(os.stat(dp).st_mode & 0o777, 0o700, dp)
                for f in fns:
                    p = os.path.join(dp, f)
                    self.assertEqual(os.stat(p).st_mode & 0o777, 0o600, p)

    def assertOnlyMember(self, data, what=""):
        """After a successful restore: the member and nothing else we made."""
        left = sorted(n for n in os.listdir(data) if n != "member" and ".moved-aside-" not in n)
        self.assertEqual(left, [], "%s: unexpected entries left in %s" % (what, data))

    def assertNothingWritten(self, r, data, before=None, wal_dir=None, words=None, what=""):
        text = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertNotEqual(r.returncode, 0, "%s: should fail: %s" % (what, text[-800:]))
        self.assertTrue(r.stderr.strip(), what + ": no error message")
        if words:
            self.assertRegex(r.stderr.decode("utf-8", "replace").lower(), words,
                             what + ": message should name the fault")
        self.assertEqual(rl.tree(data), before, "%s: %s was changed" % (what, data))
        parent = os.path.dirname(os.path.abspath(data))
        dirs = [parent, data] + ([wal_dir, os.path.dirname(wal_dir)] if wal_dir else [])
        self.assertEqual(rl.staging_left(*dirs), [], what + ": staging left behind")
        if wal_dir and before is None:
            self.assertFalse(os.path.lexists(wal_dir), what + ": --wal-dir was created")

    def boot_and_check(self, data, wal_dir=None, what=""):
        """Boot etcd 3.4 on a restored member of snapA; its keys are snapA's."""
        m = rl.Member("r1", data, self.pport, self.cluster, self.tmp, wal_dir=wal_dir)
        try:
            self.assertKvsEqual(m.get_all(), self.ls_a, what=what + " booted")
            ms, cid = m.member_list()
            self.assertEqual([(x[0], x[2]) for x in ms], [(self.ref["A"]["ids"][0], (self.peer,))])
            self.assertEqual(cid, self.ref["A"]["ids"][1])
            m.put_rev("/after-restore", "x")
        finally:
            m.stop()

    # ----------------------------------------------------------- identity
    def test_identity_one_member(self):
        for tag, snap in (("A", SNAP_A), ("B", SNAP_B)):
            with self.subTest(snap=tag):
                d = os.path.join(self.work("id1"), "data")
                r = self.c.ok("snapshot", "restore", snap, *self.flags_for(d))
                self.assertLikeRef(d, tag, what="snap" + tag)
                self.assertModes(d)
                self.assertOnlyMember(d)
                out = r.stdout.decode()
                self.assertIn(self.ref[tag]["ids"][0], out, "the member ID is printed")
                self.assertIn("etcd --name r1", out, "the etcd flags are printed")

    def test_hashkv_of_every_fixture_equals_etcds(self):
        """`cpr snapshot hashkv --rev R` = etcd's HashKV at R on a member restored
        from each fixture, at every revision it answers (compaction+1 .. newest),
        and at the current revision (R left out)."""
        for tag, snap in (("A", SNAP_A), ("B", SNAP_B)):
            with self.subTest(snap=tag):
                d = os.path.join(self.work("hk"), "data")
                rl.etcdctl_restore(snap, self.flags_for(d))
                m = rl.Member("r1", d, self.pport, self.cluster, self.tmp)
                try:
                    st = m.ctl_json("endpoint", "status")[0]["Status"]
                    newest = int(st["header"]["revision"])
                    _, compacted = m.hashkv(0)
                    revs = range(max(compacted, 0) + 1, newest + 1)
                    want = {r: m.hashkv(r)[0] for r in revs}
                    want[0] = m.hashkv(0)[0]
                finally:
                    m.stop()
                self.assertGreater(len(revs), 3)
                for r, h in want.items():
                    args = ["snapshot", "hashkv", snap] + (["--rev", r] if r else [])
                    self.assertEqual(self.c.json(*args)["hash"], h, "%s --rev %d" % (tag, r))

    def test_same_db_without_copy_file_range(self):
        """The db's pages are copied in the kernel (copy_file_range) when the
        filesystems allow it, else through a buffer: the same bytes either way."""
        dbs = []
        for no_cfr in (False, True):
            d = os.path.join(self.work("cfr"), "data")
            if no_cfr:
                os.environ["CPR_NO_COPY_FILE_RANGE"] = "1"
            try:
                self.c.ok("snapshot", "restore", SNAP_B, *self.flags_for(d))
            finally:
                os.environ.pop("CPR_NO_COPY_FILE_RANGE", None)
            self.assertLikeRef(d, "B", what="copy_file_range %s" % ("off" if no_cfr else "on"))
            with open(os.path.join(d, "member", "snap", "db"), "rb") as f:
                dbs.append(f.read())
        self.assertTrue(dbs[0] == dbs[1], "the two restored dbs differ")

    def test_identity_three_members(self):
        ports = etcdlab.free_ports(3)
        names = ["m1", "m2", "m3"]
        cluster = ",".join("%s=http://127.0.0.1:%d" % (n, p) for n, p in zip(names, ports))
        w = self.work("id3")
        ids = set()
        for n, p in zip(names, ports):
            with self.subTest(member=n):
                flags = lambda d: rl.restore_flags(n, cluster, "tok3", "http://127.0.0.1:%d" % p, d)
                ref, got = os.path.join(w, "ref-" + n), os.path.join(w, "cpr-" + n)
                rl.etcdctl_restore(SNAP_B, flags(ref))
                self.c.ok("snapshot", "restore", SNAP_B, *flags(got))
                a, b = self.describe(got), self.describe(ref)
                self.assertEqual(a["wal_sha"], b["wal_sha"], "WAL differs from etcdctl's")
                self.assertEqual(a["snaps"], b["snaps"])
                self.assertEqual(list(a["snaps"]), ["0000000000000001-0000000000000003.snap"])
                self.assertEqual(a["db"]["hash"], b["db"]["hash"])
                self.assertEqual(a["ids"], b["ids"])
                ids.add(a["ids"])
        self.assertEqual(len({i[0] for i in ids}), 3, "three member IDs")
        self.assertEqual(len({i[1] for i in ids}), 1, "one cluster ID")

    def test_identity_recorded_fixtures(self):
        # the etcdctl restores recorded in tests/fixtures/etcd-formats (README there)
        w = self.work("fixtures")
        cases = [("restore-r1", SNAP_A, "r1", "r1=http://127.0.0.1:24480", "tok-new",
                  "http://127.0.0.1:24480", 256),
                 ("restore-m1", SNAP_B, "m1", "m1=http://127.0.0.1:24581,m2=http://127.0.0.1:24583,"
                  "m3=http://127.0.0.1:24585", "tok3", "http://127.0.0.1:24581", 496)]
        for fx, snap, name, cluster, token, url, n in cases:
            with self.subTest(fixture=fx):
                d = os.path.join(w, fx)
                self.c.ok("snapshot", "restore", snap, *rl.restore_flags(name, cluster, token, url, d))
                wal, snaps, _ = rl.member_paths(d)
                head = etcdlab.read(os.path.join(FIX, fx, "wal-first-%d-bytes.bin" % n))
                with open(wal, "rb") as f:
                    self.assertEqual(f.read(n), head)
                    f.seek(n)
                    self.assertEqual(f.read(1 << 20).count(0), 1 << 20, "zeros after the records")
                self.assertEqual(etcdlab.read(snaps[0]),
                                 etcdlab.read(os.path.join(FIX, fx, os.path.basename(snaps[0]))))

    def test_etcdctl_defaults(self):
        # no flags at all: name default, data dir default.etcd, token etcd-cluster
        a, b = self.work("defaults-cpr"), self.work("defaults-ref")
        r = rl.run_raw(["snapshot", "restore", SNAP_A], cwd=a)
        self.assertEqual(r.returncode, 0, r.stderr)
        rl.etcdctl_restore(SNAP_A, [], cwd=b)
        self.assertEqual(os.listdir(a), ["default.etcd"])
        ga, gb = self.describe(os.path.join(a, "default.etcd")), self.describe(os.path.join(b, "default.etcd"))
        self.assertEqual(ga["ids"], ("8e9e05c52164694d", "cdf818194e3a8c32"))
        self.assertEqual((ga["wal_sha"], ga["snaps"], ga["ids"]), (gb["wal_sha"], gb["snaps"], gb["ids"]))
        # --name alone is not in the default cluster (etcdctl refuses it too)
        r = rl.run_raw(["snapshot", "restore", SNAP_A, "--name", "foo"], cwd=a)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'couldn\'t find local name "foo"', r.stderr)
        self.assertEqual(os.listdir(a), ["default.etcd"], "foo.etcd must not appear")

    # ------------------------------------------------------------ dry run
    def test_dry_run(self):
        w = self.work("dry")
        d, wal = os.path.join(w, "data"), os.path.join(w, "wal")
        r = self.c.ok("snapshot", "restore", SNAP_B, *self.flags_for(d, wal), "--dry-run")
        out = r.stdout.decode()
        mid, cid = self.ref["B"]["ids"]
        for s in (mid, cid, d, wal, "r1"):
            self.assertIn(s, out, "the plan shows %s" % s)
        self.assertEqual(os.listdir(w), [], "--dry-run writes nothing")
        j = self.c.json("snapshot", "restore", SNAP_B, *self.flags_for(d), "--dry-run")
        self.assertEqual((j["memberID"], j["clusterID"]), (mid, cid))
        self.assertEqual(j["dataDir"], d)
        self.assertEqual(j["name"], "r1")
        self.assertEqual(j["revision"], self.ref["B"]["db"]["revision"])
        self.assertEqual(os.listdir(w), [])
        # three members: every ID as etcdctl's WAL metadata says
        ports = etcdlab.free_ports(3)
        cluster = ",".join("x%d=http://127.0.0.1:%d" % (i, p) for i, p in enumerate(ports))
        ref = os.path.join(w, "ref")
        rl.etcdctl_restore(SNAP_A, rl.restore_flags("x1", cluster, "dry-tok",
                                                    "http://127.0.0.1:%d" % ports[1], ref))
        emid, ecid = rl.wal_meta(rl.member_paths(ref)[0])
        j = self.c.json("snapshot", "restore", SNAP_A, "--dry-run",
                        *rl.restore_flags("x1", cluster, "dry-tok", "http://127.0.0.1:%d" % ports[1], d))
        self.assertEqual((j["memberID"], j["clusterID"]), (emid, ecid))
        self.assertEqual(len(j["members"]), 3)
        self.assertIn({"name": "x1", "id": emid, "peerURLs": ["http://127.0.0.1:%d" % ports[1]]},
                      j["members"])
        self.assertEqual(sorted(os.listdir(w)), ["ref"])

    # ---------------------------------------------------------- bad input
    def corrupt_variants(self):
        b = etcdlab.read(SNAP_B)
        m = bp.BoltMap(b)
        leaf = m.of("leaf", "key")[1]
        x = bytearray(b)
        struct.pack_into("<H", x, leaf.pgid * m.page_size + 8, 0x40)  # page type garbage
        flipped = bytearray(b)
        flipped[len(b) // 2] ^= 0xFF
        return [("flipped byte mid-file", bytes(flipped), r"sha|hash|trailer"),
                ("truncated to half", b[:len(b) // 2], r"truncat|short|size"),
                ("truncated by 1000 bytes", b[:-1000], r"truncat|short|size"),
                ("wrong trailer", b[:-32] + b"\0" * 32, r"sha|hash|trailer"),
                ("bbolt damage under a good trailer", bp.fix_trailer(bytes(x)),
                 r"page %d" % leaf.pgid),
                ("empty file", b"", r"page|short|empty|0 bytes|invalid"),
                ("not a snapshot", b"hello world\n" * 1000, r"invalid|magic|bbolt|snapshot")]

    def test_corrupt_sources_write_nothing(self):
        w = self.work("corrupt")
        for i, (name, data, words) in enumerate(self.corrupt_variants()):
            src = os.path.join(w, "src%d.db" % i)
            with open(src, "wb") as f:
                f.write(data)
            for existing in (False, True):
                with self.subTest(source=name, existing_data_dir=existing):
                    d = os.path.join(w, "t%d-%d" % (i, existing))
                    if existing:
                        os.makedirs(d)
                    before = rl.tree(d)
                    r = self.restore(src, *self.flags_for(d))
                    self.assertNothingWritten(r, d, before, words=words, what=name)
        # etcdctl refuses them too
        r = subprocess.run([etcdlab.ETCDCTL, "snapshot", "restore", os.path.join(w, "src0.db"),
                                    "--data-dir", os.path.join(w, "e")], capture_output=True,
                                   env={**os.environ, "ETCDCTL_API": "3"})
        self.assertNotEqual(r.returncode, 0)

    def test_missing_source(self):
        w = self.work("missing")
        d = os.path.join(w, "d")
        r = self.restore(os.path.join(w, "nope.db"), *self.flags_for(d))
        self.assertNothingWritten(r, d, words=r"nope\.db", what="missing source")

    def test_raw_db_needs_skip_hash_check(self):
        w = self.work("rawdb")
        raw = os.path.join(self.tmp, "refA", "member", "snap", "db")  # a db from a data dir
        d = os.path.join(w, "d")
        r = self.restore(raw, *self.flags_for(d))
        self.assertNothingWritten(r, d, words=r"skip-hash-check", what="raw db")
        r = self.restore(raw, *self.flags_for(d), "--skip-hash-check")
        self.assertEqual(r.returncode, 0, r.stderr)
        wal, snaps, db = rl.member_paths(d)
        got = self.describe(d)
        self.assertEqual((got["wal_sha"], got["snaps"], got["ids"]),
                         (self.ref["A"]["wal_sha"], self.ref["A"]["snaps"], self.ref["A"]["ids"]))
        # same keyspace as etcdctl restoring that raw db
        e = os.path.join(w, "e")
        rl.etcdctl_restore(raw, self.flags_for(e), skip_hash=True)
        self.assertEqual(etcdlab.etcdctl_status(db)["hash"],
                         etcdlab.etcdctl_status(rl.member_paths(e)[2])["hash"])

    def test_bad_flags_write_nothing(self):
        w = self.work("flags")
        u = "http://127.0.0.1:%d"
        cases = [
            # (what, flags, words, etcdctl refuses it too)
            ("name missing from --initial-cluster",
             ["--name", "zz", "--initial-cluster", "r1=" + u % 2380, "--initial-advertise-peer-urls", u % 2380],
             r"zz", True),
            ("duplicate name, advertise URLs do not match",
             ["--name", "a", "--initial-cluster", "a=%s,a=%s" % (u % 2380, u % 2381),
              "--initial-advertise-peer-urls", u % 2380], r"initial-advertise-peer-urls|match", True),
            ("duplicate URL", ["--name", "a", "--initial-cluster", "a=%s,b=%s" % (u % 2380, u % 2380),
                               "--initial-advertise-peer-urls", u % 2380], r"duplicate", True),
            ("URL without scheme", ["--name", "a", "--initial-cluster", "a=127.0.0.1:2380",
                                    "--initial-advertise-peer-urls", "127.0.0.1:2380"], r"scheme", True),
            ("URL with a path", ["--name", "a", "--initial-cluster", "a=%s/x" % (u % 2380),
                                 "--initial-advertise-peer-urls", "%s/x" % (u % 2380)], r"path", True),
            ("URL with a bad port", ["--name", "a", "--initial-cluster", "a=http://127.0.0.1:abc",
                                     "--initial-advertise-peer-urls", "http://127.0.0.1:abc"], r"port", True),
            ("URL with port 99999", ["--name", "a", "--initial-cluster", "a=http://127.0.0.1:99999",
                                     "--initial-advertise-peer-urls", "http://127.0.0.1:99999"], r"port", False),
            ("URL without port", ["--name", "a", "--initial-cluster", "a=http://127.0.0.1",
                                  "--initial-advertise-peer-urls", "http://127.0.0.1"], r"port", True),
            ("bad scheme", ["--name", "a", "--initial-cluster", "a=ftp://127.0.0.1:2380",
                            "--initial-advertise-peer-urls", "ftp://127.0.0.1:2380"], r"scheme", True),
            ("item not NAME=URL", ["--name", "a", "--initial-cluster", "a=%s,garbage" % (u % 2380),
                                   "--initial-advertise-peer-urls", u % 2380], r"garbage", None),
            ("advertise URL differs", ["--name", "a", "--initial-cluster", "a=" + u % 2380,
                                       "--initial-advertise-peer-urls", u % 2390],
             r"initial-advertise-peer-urls", True),
            ("--mark-compacted without --bump-revision", ["--mark-compacted"], r"bump-revision", None),
            ("negative --bump-revision", ["--bump-revision", "-5"], r"bump-revision", None),
            ("--stamp with a file", ["--stamp", "2024-01-01_000000"], r"stamp", None),
            ("bad -w", ["-w", "xml"], r"xml|format", None),
        ]
        for i, (what, flags, words, ref_refuses) in enumerate(cases):
            with self.subTest(case=what):
                d = os.path.join(w, "t%d" % i)
                r = self.restore(SNAP_A, *flags, "--data-dir", d)
                self.assertNothingWritten(r, d, words=words, what=what)
                if ref_refuses is not None:
                    e = os.path.join(w, "e%d" % i)
                    re_ = subprocess.run(
                        [etcdlab.ETCDCTL, "snapshot", "restore", SNAP_A, *flags, "--data-dir", e],
                        capture_output=True, env={**os.environ, "ETCDCTL_API": "3"})
                    self.assertEqual(re_.returncode != 0, ref_refuses, "etcdctl on " + what)

    def test_existing_member_refused(self):
        w = self.work("exists")
        d = os.path.join(w, "d")
        self.c.ok("snapshot", "restore", SNAP_B, *self.flags_for(d))
        before = rl.tree(d)
        r = self.restore(SNAP_A, *self.flags_for(d))
        self.assertNothingWritten(r, d, before, words=r"exists.*move-aside|move-aside", what="existing member")
        # an existing --wal-dir (with a new data dir) is refused too
        wal = os.path.join(w, "wal")
        os.makedirs(wal)
        with open(os.path.join(wal, "keep"), "w") as f:
            f.write("x")
        d2 = os.path.join(w, "d2")
        wbefore = rl.tree(wal)
        r = self.restore(SNAP_A, *self.flags_for(d2, wal))
        self.assertNothingWritten(r, d2, None, words=r"wal-dir", what="existing --wal-dir")
        self.assertEqual(rl.tree(wal), wbefore)
        self.assertEqual(rl.staging_left(w), [])

    def test_move_aside(self):
        w = self.work("aside")
        d, wal = os.path.join(w, "d"), os.path.join(w, "wals", "wal")
        self.c.ok("snapshot", "restore", SNAP_B, *self.flags_for(d, wal))
        old_member, old_wal = rl.tree(os.path.join(d, "member")), rl.tree(wal)
        r = self.c.ok("snapshot", "restore", SNAP_A, *self.flags_for(d, wal), "--move-aside")
        self.assertLikeRef(d, "A", wal_dir=wal, what="after --move-aside")
        moved = [n for n in os.listdir(d) if n != "member"]
        self.assertEqual(len(moved), 1, os.listdir(d))
        self.assertRegex(moved[0], r"^member\.moved-aside-\d{4}-\d\d-\d\d_\d{6}$")
        self.assertEqual(rl.tree(os.path.join(d, moved[0])), old_member, "the old member, intact")
        self.assertIn(moved[0].encode(), r.stdout, "says where the old member went")
        wmoved = [n for n in os.listdir(os.path.dirname(wal)) if n != "wal"]
        self.assertEqual(len(wmoved), 1, os.listdir(os.path.dirname(wal)))
        self.assertRegex(wmoved[0], r"^wal\.moved-aside-\d{4}-\d\d-\d\d_\d{6}$")
        self.assertEqual(rl.tree(os.path.join(os.path.dirname(wal), wmoved[0])), old_wal)
        self.assertEqual(rl.staging_left(w, d, os.path.dirname(wal)), [])

    def test_move_aside_twice_within_a_second(self):
        # Two --move-aside restores in the same second (a retry): the second
        # must not fail because the first one's timestamped folder exists.
        w = self.work("aside2")
        d = os.path.join(w, "d")
        self.c.ok("snapshot", "restore", SNAP_B, *self.flags_for(d))
        # the folder a move-aside made this second (and the next few)
        now = time.time()
        for s in range(4):
            stamp = time.strftime("%Y-%m-%d_%H%M%S", time.localtime(now + s))
            p = os.path.join(d, "member.moved-aside-" + stamp)
            os.makedirs(os.path.join(p, "snap"))
        r = self.restore(SNAP_A, *self.flags_for(d), "--move-aside")
        self.assertEqual(r.returncode, 0, "second --move-aside within a second: %s" % r.stderr.decode())
        self.assertLikeRef(d, "A")

    def test_wal_dir_inside_data_dir(self):
        # `--wal-dir <data-dir>/member/wal` names the default place explicitly
        # (etcdctl accepts it). Restored, or refused cleanly: never a member
        # dir with a WAL and no db.
        w = self.work("walinside")
        d = os.path.join(w, "d")
        wal = os.path.join(d, "member", "wal")
        r = self.restore(SNAP_A, *self.flags_for(d, wal))
        if r.returncode == 0:
            self.assertLikeRef(d, "A", wal_dir=wal)
            self.assertEqual(sorted(os.listdir(wal)), [rl.WAL_NAME])
        else:
            self.assertNothingWritten(r, d, None, what="--wal-dir inside the data dir")
        e = os.path.join(w, "e")
        rl.etcdctl_restore(SNAP_A, self.flags_for(e, os.path.join(e, "member", "wal")))

    def test_stale_staging_of_another_data_dir_kept(self):
        # A restore into DIR removes the staging a killed restore into DIR
        # left, not that of a sibling whose name starts with DIR- (it may be
        # a restore running right now).
        w = self.work("siblings")
        other = os.path.join(w, rl.STAGING + "x-b-999999")
        os.makedirs(os.path.join(other, "member", "snap"))
        self.c.ok("snapshot", "restore", SNAP_A, *self.flags_for(os.path.join(w, "x")))
        self.assertTrue(os.path.isdir(other), "the staging of data dir x-b was removed by a restore into x")
        shutil.rmtree(other)

    def test_owner(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to chown")
        w = self.work("owner")
        d = os.path.join(w, "d")
        self.c.ok("snapshot", "restore", SNAP_A, *self.flags_for(d), "--owner", "nobody:nogroup")
        # default owner: the owner of the existing data dir
        d2 = os.path.join(w, "d2")
        os.makedirs(d2)
        os.chown(d2, 65534, 65534)
        self.c.ok("snapshot", "restore", SNAP_A, *self.flags_for(d2))
        for root in (d, d2):
            for dp, dns, fns in os.walk(root):
                for n in [dp] + [os.path.join(dp, f) for f in fns]:
                    st = os.stat(n)
                    self.assertEqual((st.st_uid, st.st_gid), (65534, 65534), n)
        self.assertModes(d)
        self.assertModes(os.path.join(d2, "member"))
        r = self.restore(SNAP_A, *self.flags_for(os.path.join(w, "d3")), "--owner", "no-such-user-x")
        self.assertNothingWritten(r, os.path.join(w, "d3"), words=r"no-such-user-x", what="bad --owner")

    # ------------------------------------------------------------ sources
    def make_folder(self, w, stamps, manifest=None):
        """A backup folder: stamp -> snapshot file; plus a tar.gz per stamp."""
        f = os.path.join(w, "backup")
        os.makedirs(f, exist_ok=True)
        for stamp, snap in stamps.items():
            shutil.copy(snap, os.path.join(f, "snapshot_%s.db" % stamp))
            self.make_resources(os.path.join(f, "static_kuberesources_%s.tar.gz" % stamp))
        return f

    @staticmethod
    def make_resources(path, snapshot=None):
        with tarfile.open(path, "w:gz") as t:
            for name, data in (("static-pod-resources/etcd-pod-3/etcd-pod.yaml", b"kind: Pod\n"),
                               ("static-pod-resources/kube-apiserver-pod-7/pod.yaml", b"kind: Pod\n")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            if snapshot:
                t.add(snapshot, arcname="snapshot.db")

    def test_backup_folder(self):
        w = self.work("folder")
        f = self.make_folder(w, {"2024-01-01_000000": SNAP_A, "2024-02-01_000000": SNAP_B})
        # a newer snapshot without its resources is not a backup
        shutil.copy(SNAP_A, os.path.join(f, "snapshot_2024-03-01_000000.db"))
        d = os.path.join(w, "newest")
        r = self.c.ok("snapshot", "restore", f, *self.flags_for(d))
        self.assertLikeRef(d, "B", what="newest pair")
        self.assertOnlyMember(d)
        self.assertRegex(r.stderr.decode().lower(), r"warning.*backup_2024-02-01_000000\.json",
                         "a pair without a manifest gets a warning")
        d = os.path.join(w, "older")
        self.c.ok("snapshot", "restore", f, *self.flags_for(d), "--stamp", "2024-01-01_000000")
        self.assertLikeRef(d, "A", what="--stamp")
        for stamp in ("2023-01-01_000000", "2024-03-01_000000"):
            with self.subTest(stamp=stamp):
                d = os.path.join(w, "bad-" + stamp)
                r = self.restore(f, *self.flags_for(d), "--stamp", stamp)
                self.assertNothingWritten(r, d, words=re.escape(stamp), what="--stamp " + stamp)
        empty = os.path.join(w, "empty")
        os.makedirs(empty)
        r = self.restore(empty, *self.flags_for(os.path.join(w, "x")))
        self.assertNothingWritten(r, os.path.join(w, "x"), words=r"snapshot_", what="empty folder")

    def test_backup_manifest_sha256(self):
        w = self.work("manifest")
        stamp = "2024-05-06_070809"
        f = self.make_folder(w, {stamp: SNAP_B})
        snap = os.path.join(f, "snapshot_%s.db" % stamp)
        good = hashlib.sha256(etcdlab.read(snap)).hexdigest()
        man = os.path.join(f, "backup_%s.json" % stamp)

        def manifest(sha):
            with open(man, "w") as fh:
                json.dump({"stamp": stamp, "files": {
                    "snapshot": {"file": "snapshot_%s.db" % stamp, "sha256": sha,
                                 "size": os.path.getsize(snap)},
                    "resources": {"file": "static_kuberesources_%s.tar.gz" % stamp, "sha256": "0" * 64}}},
                    fh)

        bad = good[:-1] + ("0" if good[-1] != "0" else "1")
        manifest(bad)
        for existing in (False, True):
            with self.subTest(wrong_sha=True, existing=existing):
                d = os.path.join(w, "bad%d" % existing)
                if existing:
                    os.makedirs(d)
                before = rl.tree(d)
                r = self.restore(f, *self.flags_for(d))
                self.assertNothingWritten(r, d, before, words=r"sha-?256", what="wrong manifest SHA-256")
                self.assertIn(bad.encode(), r.stderr)
        manifest(good)
        d = os.path.join(w, "good")
        r = self.c.ok("snapshot", "restore", f, *self.flags_for(d))
        self.assertLikeRef(d, "B", what="manifest ok")
        self.assertNotIn(b"no backup_", r.stderr, "no missing-manifest warning when it is there")

    def test_legacy_tar_gz(self):
        w = self.work("legacy")
        tgz = os.path.join(w, "snapshot_db_kuberesources_2023-12-31_235959.tar.gz")
        self.make_resources(tgz, snapshot=SNAP_A)
        for existing in (False, True):
            with self.subTest(existing_data_dir=existing):
                d = os.path.join(w, "d%d" % existing)
                if existing:
                    os.makedirs(d)
                self.c.ok("snapshot", "restore", tgz, *self.flags_for(d))
                self.assertLikeRef(d, "A", what="legacy tar.gz")
                # the extracted snapshot is staging only: nothing but the member remains
                self.assertOnlyMember(d, what="legacy tar.gz")
                self.assertEqual(rl.staging_left(w, d), [])
        # an archive without snapshot.db, and a cut one
        no_db = os.path.join(w, "snapshot_db_kuberesources_2023-01-01_000000.tar.gz")
        self.make_resources(no_db)
        cut = os.path.join(w, "snapshot_db_kuberesources_2023-01-02_000000.tar.gz")
        with open(cut, "wb") as fh:
            fh.write(etcdlab.read(tgz)[:len(etcdlab.read(tgz)) // 2])
        for src, words in ((no_db, r"snapshot\.db"), (cut, r"archive|cut|short|truncat|damaged|gzip")):
            with self.subTest(src=os.path.basename(src)):
                d = os.path.join(w, "bad")
                r = self.restore(src, *self.flags_for(d))
                self.assertNothingWritten(r, d, words=words, what=os.path.basename(src))

    # -------------------------------------------------------------- crash
    def test_crash_at_every_step(self):
        # modes: the data dir does not exist / exists and is empty / --wal-dir
        booted = set()
        for mode in ("new", "empty", "wal-dir"):
            for step in STEPS:
                if step == "wal-renamed" and mode != "wal-dir":
                    continue
                with self.subTest(mode=mode, step=step):
                    self.crash_case(mode, step, booted)

    def crash_case(self, mode, step, booted):
        w = self.work("crash-%s-%s" % (mode, step))
        d = os.path.join(w, "data")
        wal = os.path.join(w, "wals", "wal") if mode == "wal-dir" else None
        if mode == "empty":
            os.makedirs(d)
        args = ["snapshot", "restore", SNAP_A, *self.flags_for(d, wal)]
        r = rl.run_raw(args, env={"CPR_RESTORE_FAULT": step})
        self.assertEqual(r.returncode, -signal.SIGKILL,
                         "cpr should kill itself at %s: rc %d %s" % (step, r.returncode, r.stderr[-500:]))
        member = os.path.join(d, "member")
        complete = os.path.isdir(member)
        if complete:
            self.assertLikeRef(d, "A", wal_dir=wal, what="member after a kill at %s" % step)
            if mode not in booted:  # etcd boots what a kill left (once per mode)
                self.boot_and_check(d, wal, what="kill at %s (%s)" % (step, mode))
                booted.add(mode)
        else:
            self.assertFalse(os.path.lexists(member), "partial member after a kill at " + step)
        if step == "committed":
            self.assertTrue(complete, "the member is committed at 'committed'")
        if step in ("staging", "db", "wal", "snap", "synced", "wal-renamed"):
            self.assertFalse(complete, "a member appeared before the commit point (%s)" % step)
        # re-run: succeeds, complete member, no staging left
        rerun = args + (["--move-aside"] if complete else [])
        r = rl.run_raw(rerun)
        self.assertEqual(r.returncode, 0, "re-run after a kill at %s (%s) failed: %s" % (
            step, mode, r.stderr.decode(errors="replace")[-800:]))
        self.assertLikeRef(d, "A", wal_dir=wal, what="re-run after a kill at %s" % step)
        dirs = [w, d] + ([os.path.dirname(wal), wal] if wal else [])
        self.assertEqual(rl.staging_left(*dirs), [], "staging left after the re-run")
        self.assertOnlyMember(d, what="re-run after a kill at %s" % step)
        if wal:
            self.assertEqual(sorted(os.listdir(wal)), [rl.WAL_NAME], "only the WAL segment in --wal-dir")


if __name__ == "__main__":
    etcdlab.main()
