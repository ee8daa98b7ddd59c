#!/usr/bin/python3
"""Random damage (label small): bytes flipped at random in reachable pages
of snapB.db, in top-level bucket names and in sub revisions, the trailer
recomputed. Any verdict is allowed; a crash, hang
or sanitizer report is not, and restore (its own file-order checks) must
agree with `cpr snapshot verify` (the tree walk). A file of its own so that
CTest runs it beside test_small_corruption.py's targeted variants.

Under the sanitizer build (CPR_TEST_SANITIZED=1, scripts/test.sh) it flips
20 files instead of 40: every cpr run there costs ~0.5 s of startup."""
import os
import random

import boltpages as bp
import etcdlab
from test_small_corruption import FIX, CorruptionBase
from test_small_hostile import key_leaf_revisions, root_elements


class RandomFlips(CorruptionBase):
    def test_random_flips_never_crash(self):
        """Bytes flipped at random in reachable pages (trailer fixed): any
        verdict is allowed, a crash, hang or sanitizer report is not."""
        rnd = random.Random(20240601)
        pages = [p for p in self.mb.pages.values()]
        n_detected = 0
        flips = 20 if os.environ.get("CPR_TEST_SANITIZED") else 40
        buckets = root_elements(self.b)
        records = key_leaf_revisions(self.b)
        for i in range(flips):
            data = bytearray(self.b)
            kind = ("pages", "bucket name", "sub revision")[i % 3]
            if kind == "bucket name":
                # any bit of a top-level bucket's name: etcd would boot without it
                _, koff, ks = rnd.choice(buckets)
                data[koff + rnd.randrange(ks)] ^= 1 << rnd.randrange(8)
            elif kind == "sub revision":
                # bytes 9..16 of a revision key (any verdict: 0 -> 1 can be sound)
                koff = rnd.choice(records)[0]
                data[koff + 9 + rnd.randrange(8)] ^= 1 << rnd.randrange(8)
            else:
                for _ in range(rnd.choice((1, 1, 2, 8))):
                    p = rnd.choice(pages)
                    span = (p.overflow + 1) * self.mb.page_size
                    # mostly headers and element arrays, where structure lives
                    off = rnd.randrange(64) if rnd.random() < 0.6 else rnd.randrange(span)
                    data[p.pgid * self.mb.page_size + off] ^= 1 << rnd.randrange(8)
            path = self.write("random_%02d" % i, bp.fix_trailer(bytes(data)))
            with self.subTest(flip=i, kind=kind):
                r = self.c.run("snapshot", "verify", path)
                self.assertIn(r.returncode, (0, 1))
                if kind == "bucket name":
                    self.assertEqual(r.returncode, 1, "a damaged bucket name must be refused")
                n_detected += r.returncode == 1
                if i % 4 == 0 or kind == "bucket name":  # restore must agree with verify
                    # (a quarter of the page flips: CI time)
                    self.check_restore("random_%02d" % i, path, "fail" if r.returncode else "ok",
                                       skip=False)
                for args in self.commands(path).values():
                    self.assertIn(self.c.run(*args).returncode, (0, 1, 2))
                self.c.run("snapshot", "diff", os.path.join(FIX, "snapB.db"), path, "-w", "json")
        self.assertGreater(n_detected, flips // 5, "verify should catch most header/element damage")


if __name__ == "__main__":
    etcdlab.main()
