#!/usr/bin/python3
"""etcdctl's habits, each compared with etcdctl 3.4's own output where both
have the command (issue 12, items 4-5):

  -w=FMT (pflag's form), --write-out=FMT and ETCDCTL_WRITE_OUT, the flag over
  the variable; `snapshot status -w simple` (etcdctl's one line), its table,
  member IDs decimal in JSON as etcdctl's member list; --hex; kv get
  --sort-by/--order (with --limit); --insecure-transport; tables aligned as
  etcdctl's; --insecure-skip-tls-verify accepted but never skipping
  verification (a misnamed serving certificate is still refused);
  an unknown command or flag named with the nearest, bare `cpr` listing the
  commands; quorum loss (two of three members killed) named as etcd's
  "no leader" before any timeout, in one line."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import etcdlab

ENV = {**os.environ, "ETCDCTL_API": "3"}


def etcdctl(*args, env=None):
    return subprocess.run([etcdlab.ETCDCTL, *map(str, args)], capture_output=True,
                          env=env or ENV, timeout=120)


def cpr_env(c, *args, env):
    return subprocess.run([c.path, *map(str, args)], capture_output=True, env=env, timeout=120)


class Offline(etcdlab.TestCase):
    """The snapshot commands and the usage errors: no network."""

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-habits-")
        with etcdlab.Etcd("hb", workdir=cls.tmp) as e:
            for i in range(30):
                e.put("/registry/pods/ns/p%d" % i, "v%d" % i)
            cls.members = e.ctl_json("member", "list")["members"]
            cls.db = e.save(os.path.join(cls.tmp, "snap.db"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_write_out_spellings_and_variable(self):
        want = json.loads(etcdctl("snapshot", "status", self.db, "-w=json").stdout)
        for args in (["-w=json"], ["--write-out=json"], ["-w", "json"]):
            got = json.loads(self.c.ok("snapshot", "status", self.db, *args).stdout)
            self.assertEqual({k: got[k] for k in want}, want, args)
        env = {**ENV, "ETCDCTL_WRITE_OUT": "json"}
        for cmd in (["snapshot", "status", self.db], ["snapshot", "verify", self.db],
                    ["snapshot", "ls", self.db, "/registry/pods/ns/p1"]):
            r = cpr_env(self.c, *cmd, env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            json.loads(r.stdout)  # not JSON: the variable was ignored
        # the flag wins over the variable, as etcdctl
        r = cpr_env(self.c, "snapshot", "status", self.db, "-w", "simple", env=env)
        self.assertEqual(r.stdout, etcdctl("snapshot", "status", self.db, "-w", "simple").stdout)

    def test_status_simple_and_table_as_etcdctl(self):
        simple = self.c.ok("snapshot", "status", self.db, "-w", "simple").stdout
        self.assertEqual(simple, etcdctl("snapshot", "status", self.db, "-w", "simple").stdout)
        self.assertEqual(len(simple.splitlines()), 1)
        # the first table is etcdctl's, byte for byte (right-aligned cells)
        want = etcdctl("snapshot", "status", self.db, "-w", "table").stdout.decode()
        got = self.c.ok("snapshot", "status", self.db, "-w", "table").stdout.decode()
        self.assertEqual(got[:len(want)], want)

    def test_member_ids_decimal_in_json_hex_in_table(self):
        got = self.c.json("snapshot", "status", self.db)["members"]
        self.assertEqual([m["ID"] for m in got], [m["ID"] for m in self.members])
        self.assertIsInstance(got[0]["ID"], int)
        table = self.c.ok("snapshot", "status", self.db).stdout.decode()
        self.assertIn("member %x" % self.members[0]["ID"], table)

    def test_unknown_command_named_with_the_nearest(self):
        r = self.c.run("member", "lst")
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertIn("unknown command 'lst' for 'cpr member'; did you mean 'list'?", err)
        for word in ("add", "list", "promote", "remove", "update"):
            self.assertIn(word, err.splitlines()[1])
        r = self.c.run("membr", "list")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown command 'membr' for 'cpr'; did you mean 'member'?", r.stderr)
        r = self.c.run("member", "list", "--endpont", "127.0.0.1:1")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown flag '--endpont' for 'cpr member list'; did you mean "
                      b"'--endpoints'?", r.stderr)
        r = self.c.run("snapshot", "status", self.db, "--zzzz=1")
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"unknown flag '--zzzz'", r.stderr)
        self.assertNotIn(b"did you mean", r.stderr)  # nothing near: no guess

    def test_bare_commands_list_what_follows(self):
        r = self.c.ok()
        for word in (b"snapshot", b"member", b"endpoint", b"restore-quorum", b"kv"):
            self.assertIn(word, r.stdout)
        r = self.c.ok("member")
        for word in (b"list", b"add", b"promote"):
            self.assertIn(word, r.stdout)


class Live(etcdlab.TestCase):
    """One real member: the live commands' habits beside etcdctl's."""

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-habits-")
        cls.e = etcdlab.Etcd("hl", workdir=cls.tmp)
        cls.ep = cls.e.endpoint
        # values in another order than keys; one key written twice
        for k, v in [("/s/a", "zulu"), ("/s/b", "alpha"), ("/s/c", "mike"), ("/s/a", "yankee"),
                     ("/s/\xe9", "b\x01in")]:
            cls.e.put(k, v)

    @classmethod
    def tearDownClass(cls):
        cls.e.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def both(self, *args):
        """(cpr's, etcdctl's) stdout for one command; cpr's `kv` prefix added."""
        live = args[0] in ("get", "put", "del")
        got = self.c.ok(*(["kv"] if live else []), *args, "--endpoints", self.ep).stdout
        want = self.e.ctl(*args).stdout
        return got, want

    def test_sort_and_order_as_etcdctl(self):
        for flags in (["--sort-by=VALUE"], ["--sort-by=value", "--order=DESCEND"],
                      ["--order=descend"], ["--sort-by", "MODIFY", "--order", "DESCEND"],
                      ["--sort-by=CREATE"], ["--sort-by=VERSION", "--order=DESCEND"],
                      ["--order=DESCEND", "--limit", "2"], ["--order=ASCEND"]):
            got, want = self.both("get", "--prefix", "/s/", *flags)
            self.assertEqual(got, want, flags)
        # the order differs from key order, so the test can fail
        plain, _ = self.both("get", "--prefix", "/s/")
        desc, _ = self.both("get", "--prefix", "/s/", "--sort-by=VALUE", "--order=DESCEND")
        self.assertNotEqual(plain, desc)
        for flag, word in (("--sort-by=bogus", b"bad sort target bogus"),
                           ("--order=up", b"bad sort order up")):
            r = self.c.run("kv", "get", "--prefix", "/s/", flag, "--endpoints", self.ep)
            self.assertEqual(r.returncode, 2)
            self.assertIn(word, r.stderr)

    def test_hex_as_etcdctl(self):
        got, want = self.both("get", "--prefix", "/s/", "--hex")
        self.assertEqual(got, want)
        self.assertTrue(got.startswith(b"\\x2f\\x73\\x2f\\x61\n"), got)
        for args in (["member", "list", "--hex"], ["endpoint", "hashkv", "--hex"]):
            got, want = self.both(*args, "-w", "simple")
            self.assertEqual(got, want, args)
        got, want = self.both("member", "list", "--hex", "-w", "json")
        self.assertEqual(json.loads(got), json.loads(want))

    def test_short_write_out_with_equals(self):
        got, want = self.both("member", "list", "-w=json")
        self.assertEqual(json.loads(got), json.loads(want))
        env = {**ENV, "ETCDCTL_WRITE_OUT": "json"}
        r = cpr_env(self.c, "kv", "get", "/s/a", "--endpoints", self.ep, env=env)
        self.assertEqual(json.loads(r.stdout)["kvs"][0]["value"], etcdlab.b64(b"yankee"))

    def test_tables_align_as_etcdctl(self):
        for args in (["member", "list"], ["endpoint", "hashkv"]):
            got, want = self.both(*args, "-w", "table")
            self.assertEqual(got, want, args)
        got, want = self.both("endpoint", "status", "-w", "table")
        # raft indexes move between the two calls; the rest is byte for byte
        idx = re.compile(rb"\|\s+\d+ \|\s+\d+ \|\s+\|\n")
        self.assertEqual(idx.sub(b"|\n", got), idx.sub(b"|\n", want))
        self.assertRegex(got, rb"\|\s{6}false \|")  # text right-aligned, as etcdctl's

    def test_insecure_transport(self):
        got, want = self.both("member", "list", "--insecure-transport=true", "-w", "simple")
        self.assertEqual(got, want)
        # false: TLS even without certificates; a plaintext member refuses it
        host = self.ep.split("//")[1]
        r = self.c.run("member", "list", "--endpoints", host, "--insecure-transport=false",
                       "--dial-timeout", "1s")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"TLS", r.stderr)
        self.assertNotEqual(etcdctl("member", "list", "--endpoints", host,
                                    "--insecure-transport=false", "--command-timeout=2s").returncode, 0)

    def test_skip_tls_verify_is_accepted_and_said(self):
        r = self.c.ok("member", "list", "--endpoints", self.ep, "--insecure-skip-tls-verify",
                      "-w", "simple")
        self.assertEqual(r.stdout, self.e.ctl("member", "list").stdout)
        self.assertEqual(r.stderr.count(b"--insecure-skip-tls-verify is ignored"), 1)


class SkipVerifyStillVerifies(etcdlab.TestCase):
    """A serving certificate that does not name 127.0.0.1: etcdctl with
    --insecure-skip-tls-verify connects; cpr with it still refuses."""

    def test_misnamed_server_refused(self):
        c = etcdlab.cpr()
        tmp = tempfile.mkdtemp(prefix="cpr-habits-")
        try:
            pki = etcdlab.Pki(tmp)
            with etcdlab.Cluster(1, pki=pki, workdir=tmp, server_cert="misnamed") as cl:
                flags = ["--endpoints", cl.endpoints(), *pki.client_flags()]
                r = etcdctl("member", "list", *flags, "--insecure-skip-tls-verify")
                self.assertEqual(r.returncode, 0, r.stderr)
                r = c.run("member", "list", *flags, "--insecure-skip-tls-verify")
                self.assertEqual(r.returncode, 1)
                self.assertIn(b"--insecure-skip-tls-verify is ignored", r.stderr)
                self.assertIn(b"does not name '127.0.0.1'", r.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class QuorumLost(etcdlab.TestCase):
    """Three members, two killed: the survivor answers but has no leader."""

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-habits-")
        cls.cl = etcdlab.Cluster(3, workdir=cls.tmp)
        cls.cl.stop_member(1, signal.SIGKILL)
        cls.cl.stop_member(2, signal.SIGKILL)
        cls.ep = cls.cl.endpoint(0)
        # until the survivor itself says so (election timeout is 500 ms)
        deadline = time.time() + 30
        while b"no leader" not in etcdctl("endpoint", "status", "--endpoints", cls.ep).stdout:
            if time.time() > deadline:
                raise AssertionError("the survivor never reported 'no leader'")
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.cl.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fails_naming_no_leader(self, args, endpoints):
        r = self.c.run(*args, "--endpoints", endpoints, "--command-timeout", "1s")
        self.assertEqual(r.returncode, 1, args)
        err = r.stderr.decode()
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("etcdserver: no leader", err)
        if "timed out" in err:
            self.assertLess(err.index("no leader"), err.index("timed out"), err)
        return err

    def test_one_endpoint(self):
        # etcdctl's endpoint status knows the cause; so must every cpr command
        st = etcdctl("endpoint", "status", "--endpoints", self.ep).stdout
        self.assertIn(b"etcdserver: no leader", st)
        self.assertIn(b"etcdserver: no leader", self.c.ok(
            "endpoint", "status", "--endpoints", self.ep, "-w", "simple").stdout)
        for args in (["kv", "put", "k", "v"], ["kv", "get", "k"], ["alarm", "list"]):
            err = self.fails_naming_no_leader(args, self.ep)
            self.assertIn("endpoint %s" % self.ep, err)

    def test_every_endpoint(self):
        eps = self.cl.endpoints()
        for args in (["kv", "get", "k"], ["alarm", "list"]):
            err = self.fails_naming_no_leader(args, eps)
            # the member's own cause first, the refused ones after, each named once
            self.assertLess(err.index("no leader"), err.index("connection refused"), err)
            for i in range(3):
                self.assertEqual(err.count(self.cl.endpoint(i)), 1, err)


if __name__ == "__main__":
    etcdlab.main()
