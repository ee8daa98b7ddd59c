#!/usr/bin/python3
"""The offline readers hold nothing that grows with the file.

A snapshot of 40k keys with 240-byte names (~10 MB of key bytes; the old
readers held every key and every table row, 30+ MB here) is read with
CPR_READER_MEMORY=1 MB, the test knob that caps every scan budget and
spool (cli/output.h ReaderMemory). Each reader (ls in every -w, diff,
history, get) must then peak within a few MB of `cpr snapshot get` of a
missing key in a near-empty snapshot (the process's fixed cost: binary,
libraries), measured by /usr/bin/time, and
print exactly what it prints with the default limits (runs and tables
spilled to temporary files change nothing)."""
import json
import os
import shutil
import subprocess
import tempfile

import etcdlab

KEYS = 40000
NAME = "x" * 200
# Everything a reader holds beyond the fixed cost: the leaf list, read and
# spool buffers (two pass threads' 2 MB reads among them), one record:
# ~7.5 MB for ls, and the fixed cost itself varies by half a MB between
# runs. Holding every key (10 MB, 20+ MB as rows) breaks it. diff holds
# two files' worth; history walks the tree through the file's mapping,
# which may keep 32 MB resident (util/mapped_file.cc).
SLACK_MB = 10
DIFF_SLACK_MB = 12
MAPPING_MB = 32
TIME = "/usr/bin/time"  # Debian's `time` (scripts/setup.sh)


def peak_rss_mb(cmd, env):
    """Runs cmd; returns (stdout bytes, exit code, its peak RSS in MB).
    Measured by /usr/bin/time: a child forked from this (large) Python
    process would count the parent's pages it had before exec."""
    with tempfile.NamedTemporaryFile() as rss, tempfile.TemporaryFile() as out:
        code = subprocess.run([TIME, "-f", "%M", "-o", rss.name, *cmd], stdout=out,
                              stderr=subprocess.DEVNULL, env=env).returncode
        out.seek(0)
        return out.read(), code, int(open(rss.name).read().split()[-1]) / 1024


class ReadMemory(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-readmem-")
        e = etcdlab.Etcd("rm", workdir=cls.tmp)
        try:
            cls.tiny = e.save(os.path.join(cls.tmp, "tiny.db"))
            e.put_many([("/registry/configmaps/ns-%02d/%s-%06d" % (i % 50, NAME, i), "v%d" % i)
                        for i in range(KEYS)], batch=5000)
            cls.mid = e.save(os.path.join(cls.tmp, "mid.db"))
            e.put_many([("/registry/configmaps/ns-%02d/%s-%06d" % (i % 50, NAME, i), "w%d" % i)
                        for i in range(0, KEYS, 7)], batch=5000)
            cls.snap = e.save(os.path.join(cls.tmp, "snap.db"))
            # Compacted past most keys' records, for hashkv's kept revisions.
            e.put_many([("/registry/configmaps/ns-%02d/%s-%06d" % (i % 50, NAME, i), "x%d" % i)
                        for i in range(0, KEYS, 3)], batch=5000)
            cls.mid_rev = e.revision()
            e.put_many([("/registry/configmaps/ns-%02d/%s-%06d" % (i % 50, NAME, i), "y%d" % i)
                        for i in range(0, KEYS, 5)], batch=5000)
            e.compact(cls.mid_rev)
            e.put_many([("/registry/configmaps/ns-%02d/%s-%06d" % (i % 50, NAME, i), "z%d" % i)
                        for i in range(0, KEYS, 11)], batch=5000)
            cls.compacted = e.save(os.path.join(cls.tmp, "compacted.db"))
            cls.compacted_hashes = {r: e.ctl_json("endpoint", "hashkv", "--rev", str(r))
                                    for r in (0, cls.mid_rev + 1)}
        finally:
            e.stop()
        cls.key = "/registry/configmaps/ns-07/%s-%06d" % (NAME, 7)
        cls.base_env = dict(os.environ)
        cls.env = dict(os.environ, CPR_READER_MEMORY=str(1 << 20))
        _, _, cls.fixed = peak_rss_mb([cls.c.path, "snapshot", "get", cls.tiny, "/none"],
                                      cls.base_env)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def check(self, *args, rc=0, slack=SLACK_MB):
        cmd = [self.c.path, "snapshot", *args]
        out, code, mb = peak_rss_mb(cmd, self.env)
        self.assertEqual(code, rc, " ".join(args))
        self.assertLessEqual(mb, self.fixed + slack,
                             "%s: peak RSS %.1f MB, fixed cost %.1f MB" % (" ".join(args), mb,
                                                                         self.fixed))
        want, want_code, _ = peak_rss_mb(cmd, self.base_env)
        self.assertEqual(code, want_code)
        self.assertEqual(out, want, "%s: output differs when spooled" % " ".join(args))
        return out

    def test_ls_every_format(self):
        out = self.check("ls", self.snap)
        self.assertIn(b"%d keys at revision" % KEYS, out)
        self.check("ls", self.snap, "--keys-only", "--limit", "100")
        self.check("ls", self.snap, "-w", "json")
        self.check("ls", self.snap, "-w", "json", "--keys-only")
        self.check("ls", self.snap, "-w", "yaml", "--keys-only")

    def test_diff(self):
        out = self.check("diff", self.mid, self.snap, slack=DIFF_SLACK_MB)
        self.assertIn(b"0 added, 0 removed, %d changed" % len(range(0, KEYS, 7)), out)
        self.check("diff", self.tiny, self.snap, "-w", "json", slack=DIFF_SLACK_MB)
        self.check("diff", self.snap, self.mid, "-w", "yaml", slack=DIFF_SLACK_MB)

    def test_history_and_get(self):
        self.check("history", self.snap, self.key, slack=SLACK_MB + MAPPING_MB)
        self.check("get", self.snap, self.key, "-w", "json")

    def test_hashkv_and_status(self):
        # hashkv holds a live key scan and the kept revisions as sorted runs,
        # not every live key (the old reader's 12+ MB here). Its second pass
        # walks the key bucket through the file's mapping as history does:
        # history of one key on the same file is the yardstick.
        _, _, walk = peak_rss_mb([self.c.path, "snapshot", "history", self.compacted, self.key],
                                 self.env)
        slack = walk - self.fixed + SLACK_MB
        for rev, want in self.compacted_hashes.items():
            out = self.check("hashkv", self.compacted, "--rev", str(rev), "-w", "json",
                             slack=slack)
            self.assertEqual(json.loads(out)["hash"], want[0]["HashKV"]["hash"], "at --rev %d" % rev)
        out = self.check("status", self.compacted, "-w", "json", slack=slack)
        self.assertEqual(json.loads(out)["hashKV"]["hash"],
                         self.compacted_hashes[0][0]["HashKV"]["hash"])

if __name__ == "__main__":
    etcdlab.main()
