#!/usr/bin/python3
"""Corruption tests (label small): damaged copies of real etcd snapshots
(tests/fixtures/etcd-formats/snapB.db: branch pages, overflow pages, a
non-inline key bucket; snapA.db: inline buckets).

For every variant: `cpr snapshot verify` exits 1 and names the fault (the
damaged page, or the trailer/meta/size problem), its JSON says ok:false;
status/ls/get/history exit 1 (or 2) where the data they need is damaged;
and no command ever crashes, hangs or trips a sanitizer (etcdlab.Cpr).
Structural damage gets a recomputed SHA-256 trailer, so the trailer check
passes and the bbolt/schema checks have to find it."""
import json
import os
import random
import re
import shutil
import struct
import tempfile

import boltpages as bp
import etcdlab

FIX = os.path.join(etcdlab.FIXTURES, "etcd-formats")
ALL = ("status", "ls", "get", "history")
KEY_CMDS = ("ls", "get", "history")
TRUNC_WORDS = r"truncat|short|small|size|high.?water|hwm|beyond|past|end of file|eof|bounds|outside"
TRAILER_WORDS = r"hash|sha|trailer|digest"


class V:
    """One damaged file and what cpr must say about it."""

    def __init__(self, name, data, verify="fail", skip="same", must_fail=(), pages=(), words=None,
                 check=None, equal_status=False):
        self.name, self.data = name, data
        self.verify = verify          # fail | ok | any   (without --skip-hash-check)
        self.skip = verify if skip == "same" else skip  # the same with --skip-hash-check
        self.must_fail = tuple(must_fail)  # commands that must exit 1/2
        self.pages = tuple(pages)     # verify must name one of these page ids
        self.words = words            # or a regex its output must match
        self.check = check            # a JSON fault must have this "check"
        self.equal_status = equal_status  # status must still work and equal etcdctl's


def flip(data, off, xor=0xFF):
    b = bytearray(data)
    b[off] ^= xor
    return bytes(b)


def put(data, off, fmt, *vals):
    b = bytearray(data)
    struct.pack_into(fmt, b, off, *vals)
    return bytes(b)


def _varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def mod_revision_offset(b, v):
    """File offset of the (single-byte) mod_revision varint of the KeyValue at v."""
    assert b[v] == 0x0A
    n, i = _varint(b, v + 1)
    i += n
    assert b[i] == 0x10  # create_revision
    _, i = _varint(b, i + 1)
    assert b[i] == 0x18 and b[i + 1] < 0x80, "mod_revision should be a 1-byte varint here"
    return i + 1


class CorruptionBase(etcdlab.TestCase):
    """Fixtures and checks shared with test_small_random_flips.py."""

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-corrupt-")
        cls.b = etcdlab.read(os.path.join(FIX, "snapB.db"))
        cls.a = etcdlab.read(os.path.join(FIX, "snapA.db"))
        cls.mb = bp.BoltMap(cls.b)
        cls.ma = bp.BoltMap(cls.a)
        cls.key = bp.first_user_key(cls.mb)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, name, data):
        p = os.path.join(self.tmp, name + ".db")
        with open(p, "wb") as f:
            f.write(data)
        return p

    def commands(self, path):
        return {"status": ["snapshot", "status", path, "-w", "json"],
                "ls": ["snapshot", "ls", path, "-w", "json"],
                "get": ["snapshot", "get", path, self.key, "-w", "json"],
                "history": ["snapshot", "history", path, self.key, "-w", "json"]}

    # ------------------------------------------------------------------
    def check_variant(self, v):
        path = self.write(v.name, v.data)
        for skip in (False, True):
            expect = v.skip if skip else v.verify
            args = ["snapshot", "verify", path] + (["--skip-hash-check"] if skip else [])
            r = self.c.run(*args)
            text = (r.stdout + r.stderr).decode("utf-8", "replace")
            what = "%s: verify%s" % (v.name, " --skip-hash-check" if skip else "")
            if expect == "ok":
                self.assertEqual(r.returncode, 0, "%s should pass: %s" % (what, text[-1500:]))
                continue
            if expect == "any":
                self.assertIn(r.returncode, (0, 1), "%s: %s" % (what, text[-1500:]))
                continue
            self.assertEqual(r.returncode, 1, "%s should fail with exit 1: %s" % (what, text[-1500:]))
            if v.pages:
                named = any(re.search(r"\b%d\b" % p, text) for p in v.pages)
                self.assertTrue(named and "page" in text.lower(),
                                "%s: the fault should name page %s: %s" % (
                                    what, "/".join(map(str, v.pages)), text[-1500:]))
            if v.words:
                self.assertRegex(text.lower(), v.words, "%s: message should say what is wrong" % what)
            r = self.c.run(*args, "-w", "json")
            self.assertEqual(r.returncode, 1, what + " -w json")
            try:
                doc = json.loads(r.stdout)
            except ValueError:
                self.fail("%s -w json printed no JSON: %r %r" % (what, r.stdout[:300], r.stderr[:300]))
            self.assertIs(doc.get("ok"), False, what)
            self.assertTrue(doc.get("faults"), what + ": no faults listed")
            for f in doc["faults"]:
                self.assertIn(f.get("check"), ("trailer", "bolt", "schema"), f)
                self.assertTrue(f.get("what"), f)
            if v.check and not skip:
                self.assertIn(v.check, [f.get("check") for f in doc["faults"]], doc["faults"][:5])
        self.check_restore(v.name, path, v.verify, skip=False)
        if v.skip != v.verify:
            self.check_restore(v.name, path, v.skip, skip=True)
        for name, args in self.commands(path).items():
            r = self.c.run(*args)   # raises on crash / hang / sanitizer report
            if name in v.must_fail:
                self.assertIn(r.returncode, (1, 2), "%s: %s must fail, got exit %d: %r" % (
                    v.name, name, r.returncode, r.stdout[:200]))
                self.assertTrue(r.stderr.strip(), "%s: %s failed silently" % (v.name, name))
            else:
                self.assertIn(r.returncode, (0, 1, 2), "%s: %s" % (v.name, name))
        if v.equal_status:
            got = self.c.json("snapshot", "status", path)
            ref = etcdlab.etcdctl_status(path)
            self.assertEqual({k: got[k] for k in ref}, ref, v.name)

    def check_restore(self, name, path, expect, skip):
        """Restore verifies in its own (file-order) pass: it must refuse what
        verify refuses, write nothing then, and what it writes must verify."""
        out = os.path.join(self.tmp, "%s-restored%s" % (name, "-skip" if skip else ""))
        shutil.rmtree(out, ignore_errors=True)
        args = ["snapshot", "restore", path, "--data-dir", out] + (
            ["--skip-hash-check"] if skip else [])
        r = self.c.run(*args)
        what = "%s: restore%s" % (name, " --skip-hash-check" if skip else "")
        text = (r.stdout + r.stderr).decode("utf-8", "replace")
        self.assertIn(r.returncode, (0, 1, 2), what)
        if expect == "fail":
            self.assertIn(r.returncode, (1, 2), "%s should fail: %s" % (what, text[-800:]))
        if expect == "ok":
            self.assertEqual(r.returncode, 0, "%s should succeed: %s" % (what, text[-800:]))
        if r.returncode != 0:
            self.assertFalse(os.path.exists(os.path.join(out, "member")), what + " left a member")
            self.assertTrue(r.stderr.strip(), what + " failed silently")
        else:
            db = os.path.join(out, "member", "snap", "db")
            rv = self.c.run("snapshot", "verify", db, "--skip-hash-check")
            self.assertEqual(rv.returncode, 0, "%s wrote a db that fails verify: %s" % (
                what, (rv.stdout + rv.stderr).decode("utf-8", "replace")[-800:]))
        shutil.rmtree(out, ignore_errors=True)

    def run_variants(self, variants):
        for v in variants:
            with self.subTest(variant=v.name):
                self.check_variant(v)


class Corruption(CorruptionBase):

    # ------------------------------------------------------------------
    def test_pristine_copy_is_sound(self):
        """The baseline the other tests damage: every command works on it."""
        for name, data in (("pristine_b", self.b), ("pristine_a", self.a)):
            path = self.write(name, data)
            self.c.ok("snapshot", "verify", path)
            for cmd, args in self.commands(path).items():
                if data is self.a and cmd in ("get", "history"):
                    continue
                self.c.ok(*args)

    def test_not_a_snapshot(self):
        rnd = random.Random(7)
        self.run_variants([
            V("empty", b"", must_fail=ALL, words=r"empty|too small|size|short|0 bytes"),
            V("one_byte", b"\x00", must_fail=ALL, words=r"too small|size|short|truncat"),
            V("text", b"this is not a bolt database\n" * 500, must_fail=ALL,
              words=r"magic|invalid|not a bbolt|not a bolt|meta"),
            V("random", bytes(rnd.randrange(256) for _ in range(40000)), must_fail=ALL,
              words=r"magic|invalid|not a bbolt|not a bolt|meta"),
            V("zeros", bytes(3 * 4096 + 32), must_fail=ALL, words=r"magic|invalid|not a bbolt|meta"),
        ])

    def test_truncated(self):
        b, m = self.b, self.mb
        hwm_end = m.hwm * m.page_size
        all_pages = list(m.pages.values())
        key_pages = [p for p in all_pages if p.bucket == "key"]

        def cut(off):
            # which commands need a page that the cut removed
            mf = []
            if any((p.pgid + 1 + p.overflow) * m.page_size > off for p in all_pages):
                mf.append("status")
            if any((p.pgid + 1 + p.overflow) * m.page_size > off for p in key_pages):
                mf += KEY_CMDS
            return mf

        self.run_variants([
            V("trunc_100", b[:100], must_fail=ALL, words=TRUNC_WORDS + r"|magic|meta|invalid"),
            V("trunc_meta0_only", b[:4096], must_fail=ALL, words=TRUNC_WORDS + r"|meta"),
            V("trunc_metas_only", b[:8192], must_fail=ALL, words=TRUNC_WORDS),
            V("trunc_half", b[:len(b) // 2 + 1], must_fail=cut(len(b) // 2 + 1), words=TRUNC_WORDS),
            V("trunc_mid_page", b[:37 * 4096 + 1000], must_fail=cut(37 * 4096 + 1000), words=TRUNC_WORDS),
            # shorter than the high-water mark and the trailer is gone: even
            # with --skip-hash-check this is not a whole bbolt file
            V("trunc_below_hwm", b[:hwm_end - 4096], must_fail=cut(hwm_end - 4096), words=TRUNC_WORDS),
            # exactly the bbolt file, trailer removed: sound without the hash check
            V("trunc_no_trailer", b[:hwm_end], verify="fail", skip="ok", words=TRAILER_WORDS,
              equal_status=True),
            # half a trailer
            V("trunc_half_trailer", b[:-16], verify="fail", skip="any", words=TRAILER_WORDS),
        ])

    def test_trailer(self):
        b = self.b
        self.run_variants([
            V("wrong_trailer", flip(b, len(b) - 1), verify="fail", skip="ok", words=TRAILER_WORDS,
              check="trailer"),
            V("trailer_zeroed", b[:-32] + bytes(32), verify="fail", skip="ok", words=TRAILER_WORDS,
              check="trailer"),
            # a value byte in an overflow continuation page: only the hash can tell
            V("overflow_data_flip", flip(b, 20 * 4096 + 1234), verify="fail", skip="any",
              words=TRAILER_WORDS, check="trailer"),
        ])

    def test_trailer_only_checked_on_request(self):
        """The read-only inspectors follow `status` (and etcdctl's snapshot
        status): a structurally sound file with a wrong SHA-256 trailer is
        read unless --check-hash is given (--skip-hash-check is accepted and
        changes nothing); with --check-hash they print nothing and exit 1.
        verify and restore always check it and refuse the file."""
        path = self.write("bad-trailer-inspect", flip(self.b, len(self.b) - 1))
        other = os.path.join(FIX, "snapB.db")
        cmds = {"status": ["snapshot", "status", path, "-w", "json"],
                "ls": ["snapshot", "ls", path, "-w", "json"],
                "ls --keys-only": ["snapshot", "ls", path, "--keys-only"],
                "get": ["snapshot", "get", path, self.key, "-w", "json"],
                "history": ["snapshot", "history", path, self.key],
                "diff": ["snapshot", "diff", other, path, "-w", "json"],
                "hashkv": ["snapshot", "hashkv", path]}
        for name, args in cmds.items():
            for extra in ([], ["--skip-hash-check"]):
                r = self.c.run(*args, *extra)
                self.assertEqual(r.returncode, 0, "%s %s should read a file whose only fault is "
                                 "its trailer: %r" % (name, extra, r.stderr[-500:]))
                self.assertTrue(r.stdout.strip(), "%s %s printed nothing" % (name, extra))
            r = self.c.run(*args, "--check-hash")
            self.assertEqual(r.returncode, 1, "%s --check-hash should refuse: %r" % (name, r.stdout[:300]))
            self.assertEqual(r.stdout, b"", name + " --check-hash printed from a file that fails it")
            self.assertRegex(r.stderr.decode("utf-8", "replace").lower(), TRAILER_WORDS)
        r = self.c.run("snapshot", "verify", path)
        self.assertEqual(r.returncode, 1, "verify must refuse a wrong trailer")
        self.assertRegex((r.stdout + r.stderr).decode("utf-8", "replace").lower(), TRAILER_WORDS)
        out = os.path.join(self.tmp, "bad-trailer-inspect-restored")
        shutil.rmtree(out, ignore_errors=True)
        r = self.c.run("snapshot", "restore", path, "--data-dir", out)
        self.assertEqual(r.returncode, 1, "restore must refuse a wrong trailer")
        self.assertFalse(os.path.exists(out), "a refused restore wrote " + out)

    def test_meta_pages(self):
        b, m = self.b, self.mb
        fix = bp.fix_trailer
        both_magic = flip(flip(b, 16), 4096 + 16)
        both_sum = flip(flip(b, 72), 4096 + 72)
        bogus_root = m.hwm + 50
        both_root = bp.set_meta(bp.set_meta(b, 0, root=bogus_root), 1, root=bogus_root)
        both_leaf_root = bp.set_meta(bp.set_meta(b, 0, root=0), 1, root=0)
        small_hwm = bp.set_meta(bp.set_meta(b, 0, pgid=3), 1, pgid=3)
        self.run_variants([
            V("meta_both_magic", fix(both_magic), must_fail=ALL, words=r"magic|invalid|meta"),
            V("meta_both_checksum", fix(both_sum), must_fail=ALL, words=r"checksum|meta"),
            V("meta_both_version", fix(bp.set_meta(bp.set_meta(b, 0, version=9), 1, version=9)),
              must_fail=ALL, words=r"version|meta"),
            V("meta_root_beyond_file", fix(both_root), must_fail=ALL, pages=(bogus_root,)),
            V("meta_root_is_meta", fix(both_leaf_root), must_fail=ALL, pages=(0,)),
            V("meta_hwm_too_small", fix(small_hwm), verify="fail",
              words=r"high.?water|hwm|pgid|beyond|bounds|outside"),
            # one bad meta: bbolt (and etcdctl) fall back to the other
            V("meta0_checksum_only", fix(flip(b, 72)), verify="any", equal_status=True),
        ])

    def test_branch_page(self):
        b, m = self.b, self.mb
        fix = bp.fix_trailer
        br = m.of("branch", bucket="key")
        self.assertTrue(br, "fixture snapB should have a branch page in the key bucket")
        p = br[0].pgid
        base = p * m.page_size
        _, _, count, _ = struct.unpack_from("<QHHI", b, base)
        self.assertGreater(count, 3)
        e1 = base + 16 + 16
        pos1, ks1, child1 = struct.unpack_from("<IIQ", b, e1)
        pos2, ks2, child2 = struct.unpack_from("<IIQ", b, e1 + 16)
        # swap the keys of elements 1 and 2 (both 17 bytes): order broken
        k1, k2 = b[e1 + pos1:e1 + pos1 + ks1], b[e1 + 16 + pos2:e1 + 16 + pos2 + ks2]
        sw = bytearray(b)
        sw[e1 + pos1:e1 + pos1 + ks1] = k2
        sw[e1 + 16 + pos2:e1 + 16 + pos2 + ks2] = k1
        self.run_variants([
            V("branch_flags", fix(put(b, base + 8, "<H", 0x20)), must_fail=ALL, pages=(p,)),
            V("branch_count", fix(put(b, base + 10, "<H", 0xFFFF)), must_fail=ALL, pages=(p,)),
            V("branch_id", fix(put(b, base, "<Q", p + 1)), verify="fail", pages=(p, p + 1)),
            V("branch_child_beyond", fix(put(b, e1 + 8, "<Q", m.hwm + 1000)), must_fail=ALL,
              pages=(p, m.hwm + 1000)),
            V("branch_child_huge", fix(put(b, e1 + 8, "<Q", 1 << 62)), must_fail=ALL,
              pages=(p, 1 << 62)),
            V("branch_child_meta", fix(put(b, e1 + 8, "<Q", 1)), must_fail=ALL, pages=(p, 1)),
            V("branch_child_cycle", fix(put(b, e1 + 8, "<Q", p)), verify="fail", pages=(p,)),
            V("branch_child_twice", fix(put(b, e1 + 8, "<Q", child2)), verify="fail",
              pages=(p, child1, child2)),
            V("branch_key_pos", fix(put(b, e1, "<I", 0xFFFFFF00)), must_fail=ALL, pages=(p,)),
            V("branch_key_size", fix(put(b, e1 + 4, "<I", 0x7FFFFFFF)), must_fail=ALL, pages=(p,)),
            V("branch_keys_unsorted", fix(bytes(sw)), verify="fail", pages=(p, child1, child2)),
        ])

    def test_leaf_page(self):
        b, m = self.b, self.mb
        fix = bp.fix_trailer
        leaves = m.of("leaf", bucket="key", overflow=False)
        p = leaves[len(leaves) // 2].pgid
        base = p * m.page_size
        el = bp.leaf_elems(b, m.page_size, p)
        self.assertGreaterEqual(len(el), 3)
        (e0, _, k0, ks0, _), (_, _, k1, ks1, _) = el[0], el[1]
        sw = bytearray(b)
        sw[k0:k0 + ks0], sw[k1:k1 + ks1] = b[k1:k1 + ks1], b[k0:k0 + ks0]
        # the root bucket's own leaf (bucket names -> bucket headers)
        root = m.root
        self.run_variants([
            V("leaf_flags", fix(put(b, base + 8, "<H", 0x20)), must_fail=ALL, pages=(p,)),
            V("leaf_flags_meta", fix(put(b, base + 8, "<H", 0x04)), must_fail=ALL, pages=(p,)),
            V("leaf_count", fix(put(b, base + 10, "<H", 0xFFFF)), must_fail=ALL, pages=(p,)),
            V("leaf_count_zero", fix(put(b, base + 10, "<H", 0)), verify="any"),
            V("leaf_pos", fix(put(b, e0 + 4, "<I", 0xFFFFFF00)), must_fail=ALL, pages=(p,)),
            V("leaf_ksize", fix(put(b, e0 + 8, "<I", 0x7FFFFFFF)), must_fail=ALL, pages=(p,)),
            V("leaf_vsize", fix(put(b, e0 + 12, "<I", 0x7FFFFFFF)), must_fail=ALL, pages=(p,)),
            V("leaf_keys_unsorted", fix(bytes(sw)), verify="fail", pages=(p,)),
            # KeyValue.mod_revision no longer equals the key's main revision
            V("leaf_mod_revision", fix(flip(b, mod_revision_offset(b, k0 + ks0), 0x01)),
              verify="fail", check="schema"),
            # the KeyValue protobuf no longer decodes (wire type 7)
            V("leaf_value_garbage", fix(put(b, k0 + ks0, "<B", 0xFF)), verify="fail", check="schema"),
            V("root_leaf_flags", fix(put(b, root * m.page_size + 8, "<H", 0x20)), must_fail=ALL,
              pages=(root,)),
            V("root_leaf_bucket_root", fix(put(b, m.bucket_values["key"][0], "<Q", m.hwm + 7)),
              must_fail=ALL, pages=(m.hwm + 7, root)),
        ])

    def test_overflow_page(self):
        b, m = self.b, self.mb
        fix = bp.fix_trailer
        ov = m.of("leaf", bucket="key", overflow=True)
        self.assertTrue(ov, "fixture snapB should have a leaf with overflow pages")
        p = ov[0].pgid
        base = p * m.page_size
        self.run_variants([
            V("overflow_zero", fix(put(b, base + 12, "<I", 0)), must_fail=ALL, pages=(p,)),
            V("overflow_huge", fix(put(b, base + 12, "<I", 0xFFFFFF)), must_fail=ALL, pages=(p,)),
            V("overflow_beyond_hwm", fix(put(b, base + 12, "<I", m.hwm - p + 3)), verify="fail",
              pages=(p,)),
        ])

    def test_inline_bucket(self):
        a, m = self.a, self.ma
        fix = bp.fix_trailer
        off, size = m.bucket_values["key"]
        self.assertEqual(m.bucket_roots["key"], 0, "snapA's key bucket should be inline")
        self.run_variants([
            V("inline_count", fix(put(a, off + 16 + 10, "<H", 0xFFFF)), must_fail=("status", "ls"),
              words=r"inline|bucket|key|bounds|page"),
            V("inline_flags", fix(put(a, off + 16 + 8, "<H", 0x01)), must_fail=("status", "ls"),
              words=r"inline|bucket|key|leaf|page"),
            V("inline_pos", fix(put(a, off + 16 + 16 + 4, "<I", 0xFFFF0000)), must_fail=("status", "ls"),
              words=r"inline|bucket|key|bounds|page"),
        ])


if __name__ == "__main__":
    etcdlab.main()
