#!/usr/bin/python3
"""A db copied out of a live member's data dir while etcd writes to it (the
copy an operator makes with `cp member/snap/db` when there is no backup),
made the way it happens: the first pages (the metas) are read, etcd commits
more transactions, then the rest of the file is read. The metas then name a
tree whose pages etcd may have freed and rewritten since.

Whatever the copy turned out to hold, CPR must not make it worse:
  - `snapshot verify` sorts every fault into repairable (derivable: the
    freelist, unreferenced pages, an empty bucket) or in the data;
  - restore refuses a copy with faults in the data, even with --repair,
    and leaves no member;
  - a copy that verifies, or whose faults are all repairable (with
    --repair), restores into a member that real etcd boots, serving exactly
    the keys `cpr snapshot ls` reads from the copy.
Several copies are taken at different points of a write load, so both the
refusal and the restore are exercised (asserted: at least one of each kind
seen is handled; the test fails only on a wrong handling, never on which
kind the copies turned out to be). The deterministic repair case (a freelist
naming a leaf, as a 3.2-era member's copy has) is in test_small_hostile.py."""
import json
import os
import shutil
import struct
import tempfile
import time

import etcdlab
import restorelab as rl

PAGE = 4096


def meta_txid(head):
    """The larger valid txid of the two meta pages in `head` (bytes of pages 0..1)."""
    best = 0
    for i in (0, 1):
        magic, = struct.unpack_from("<I", head, i * PAGE + 16)
        if magic == 0xED0CDAED:
            best = max(best, struct.unpack_from("<Q", head, i * PAGE + 16 + 48)[0])
    return best


class TornCopy(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-torn-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def torn_copies(self, e, n):
        """n copies of e's db, each torn across at least one commit."""
        db = os.path.join(e.data, "member", "snap", "db")
        copies = []
        for k in range(n):
            with open(db, "rb") as f:
                head = f.read(2 * PAGE)
            txid = meta_txid(head)
            # 1, 3, 5, ... commits between the two reads: the more there are,
            # the more of the old tree's pages etcd has freed and reused
            for round_ in range(1 + 2 * k):
                # writes that rewrite existing pages (overwrites, deletes) and add new ones
                e.put_many([("/load/%05d" % i, "v%d-%d-%s" % (k, i, "y" * 200))
                            for i in range((k + round_) * 97 % 500, 2000, 3)], batch=500)
                for i in range(k + round_, 2000, 50):
                    e.delete("/load/%05d" % i)
                # wait (bounded) until etcd's backend committed them
                txid = self.wait_commit(db, txid)
            with open(db, "rb") as f:
                f.seek(2 * PAGE)
                rest = f.read()
            path = os.path.join(self.tmp, "torn-%d.db" % k)
            with open(path, "wb") as f:
                f.write(head + rest)
            copies.append(path)
        return copies

    def wait_commit(self, db, txid):
        """Waits (bounded) until the db's metas show a commit past `txid`."""
        deadline = time.time() + 30
        while True:
            with open(db, "rb") as f:
                now = meta_txid(f.read(2 * PAGE))
            if now > txid:
                return now
            self.assertLess(time.time(), deadline, "etcd committed nothing in 30 s")
            time.sleep(0.05)

    def restore_and_boot(self, path, name, repair):
        d = os.path.join(self.tmp, "r-" + name)
        _, pport = etcdlab.free_port_pair()
        peer = "http://127.0.0.1:%d" % pport
        flags = rl.restore_flags("t", "t=" + peer, "torn", peer, d)
        r = self.c.run("snapshot", "restore", path, "--skip-hash-check", *flags,
                       *(["--repair"] if repair else []))
        return d, pport, peer, r

    def test_torn_copies_are_sorted_and_never_made_worse(self):
        e = etcdlab.Etcd("live", workdir=self.tmp)
        try:
            e.put_many([("/load/%05d" % i, "v-%d-%s" % (i, "x" * 300)) for i in range(2000)],
                       batch=500)
            copies = self.torn_copies(e, 6)
        finally:
            e.stop()
        seen = {"sound": 0, "repairable": 0, "data": 0}
        for path in copies:
            name = os.path.basename(path)[:-3]
            with self.subTest(copy=name):
                r = self.c.run("snapshot", "verify", path, "--skip-hash-check", "-w", "json")
                self.assertIn(r.returncode, (0, 1), r.stderr)
                doc = json.loads(r.stdout)
                for f in doc.get("faults", []):
                    self.assertIn("repairable", f)
                if doc["ok"]:
                    kind = "sound"
                elif doc["faultCount"] == doc["repairableCount"]:
                    kind = "repairable"
                else:
                    kind = "data"
                seen[kind] += 1
                if kind == "data":
                    d, _, _, rr = self.restore_and_boot(path, name, repair=True)
                    self.assertEqual(rr.returncode, 1, rr.stdout + rr.stderr)
                    self.assertFalse(os.path.exists(os.path.join(d, "member")))
                    continue
                if kind == "repairable":
                    d, _, _, rr = self.restore_and_boot(path, name + "-norepair", repair=False)
                    self.assertEqual(rr.returncode, 1, rr.stdout + rr.stderr)
                    self.assertIn(b"--repair", rr.stderr)
                    self.assertFalse(os.path.exists(os.path.join(d, "member")))
                want = self.c.json("snapshot", "ls", path, "--skip-hash-check")
                d, pport, peer, rr = self.restore_and_boot(path, name, repair=kind == "repairable")
                self.assertEqual(rr.returncode, 0, rr.stdout + rr.stderr)
                m = rl.Member("t", d, pport, "t=" + peer, self.tmp)
                try:
                    self.assertKvsEqual(m.get_all(), want, what=name + " booted by etcd")
                finally:
                    m.stop()
        print("torn copies:", seen)
        self.assertEqual(sum(seen.values()), len(copies))


if __name__ == "__main__":
    etcdlab.main()
