#!/usr/bin/python3
"""cpr's live commands against one real etcd 3.4 member (plaintext), each
compared with etcdctl on the same server, plus the failures an operator
meets first: nothing listening, a listener that never answers, bad flags,
authentication. Small and quick: also run under ASan/UBSan.

  member list, endpoint status|health|hashkv, alarm list|disarm, defrag,
  kv get|put|del|txn: -w json equal to etcdctl's (volatile fields aside),
  simple/table rows with etcdctl's columns and values;
  ETCDCTL_* environment variables, flag over variable;
  refused / hanging endpoint: exit 1, the endpoint and the reason named,
  within the dial timeout; usage errors exit 2;
  auth: --user NAME:PASSWORD, a missing or wrong password, permission denied;
  a real NOSPACE alarm listed as etcdctl lists it, then disarmed."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import etcdlab


class LiveCommands(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-client-")
        cls.e = etcdlab.Etcd("cl", workdir=cls.tmp)
        cls.ep = cls.e.endpoint  # http://127.0.0.1:PORT, as etcdlab gives etcdctl
        for i in range(20):
            cls.e.put("/registry/pods/ns/p%d" % i, "v%d" % i)

    @classmethod
    def tearDownClass(cls):
        cls.e.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cpr_json(self, *args):
        return self.c.json(*args, "--endpoints", self.ep)

    def ctl_json(self, *args):
        return self.e.ctl_json(*args)

    def test_member_list_equals_etcdctl(self):
        self.assertEqual(self.cpr_json("member", "list"), self.ctl_json("member", "list"))
        simple = self.c.ok("member", "list", "--endpoints", self.ep, "-w", "simple").stdout
        self.assertEqual(simple, self.e.ctl("member", "list").stdout)
        table = self.c.ok("member", "list", "--endpoints", self.ep).stdout.decode()
        for col in ("ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"):
            self.assertIn(col, table)
        self.assertIn("| started |", table)

    def test_endpoint_status_hashkv_health_equal_etcdctl(self):
        self.assertEqual(etcdlab.strip_volatile(self.cpr_json("endpoint", "status")),
                         etcdlab.strip_volatile(self.ctl_json("endpoint", "status")))
        self.assertEqual(self.cpr_json("endpoint", "hashkv"), self.ctl_json("endpoint", "hashkv"))
        rev = int(self.ctl_json("get", "x")["header"]["revision"]) - 5
        self.assertEqual(self.cpr_json("endpoint", "hashkv", "--rev", rev),
                         self.ctl_json("endpoint", "hashkv", "--rev", str(rev)))
        self.assertEqual(etcdlab.strip_volatile(self.cpr_json("endpoint", "health")),
                         etcdlab.strip_volatile(self.ctl_json("endpoint", "health")))
        # simple rows: etcdctl's columns and values
        got = self.c.ok("endpoint", "status", "--endpoints", self.ep, "-w", "simple").stdout.decode()
        ref = self.e.ctl("endpoint", "status").stdout.decode()
        cols = lambda line: [c for i, c in enumerate(line.split(", ")) if i not in (7, 8)]
        self.assertEqual(cols(got.strip()), cols(ref.strip()))
        self.assertEqual(self.c.ok("endpoint", "hashkv", "--endpoints", self.ep, "-w", "simple").stdout,
                         self.e.ctl("endpoint", "hashkv").stdout)

    def test_alarm_and_defrag(self):
        self.assertEqual(self.cpr_json("alarm", "list"), self.ctl_json("alarm", "list"))
        self.assertEqual(self.cpr_json("alarm", "disarm"), self.ctl_json("alarm", "disarm"))
        r = self.c.ok("defrag", "--endpoints", self.ep)
        self.assertEqual(r.stdout.decode(), "Finished defragmenting etcd member[%s]\n" % self.ep)
        self.assertEqual(self.cpr_json("defrag"), [{"Endpoint": self.ep, "defragmented": True}])

    def test_kv_equal_etcdctl(self):
        put = self.cpr_json("kv", "put", "/kv/a", "one")
        ref = self.ctl_json("get", "/kv/a")
        self.assertEqual(put["header"]["revision"], ref["header"]["revision"])
        self.assertEqual(self.cpr_json("kv", "get", "/kv/a"), self.ctl_json("get", "/kv/a"))
        self.c.ok("kv", "put", "/kv/b", "two", "--endpoints", self.ep)
        self.assertEqual(self.cpr_json("kv", "get", "/kv/", "--prefix"),
                         self.ctl_json("get", "/kv/", "--prefix"))
        self.assertEqual(self.cpr_json("kv", "get", "/kv/", "--prefix", "--keys-only"),
                         self.ctl_json("get", "/kv/", "--prefix", "--keys-only"))
        self.assertEqual(self.cpr_json("kv", "get", "/registry/", "--prefix", "--limit", "3", "--rev", "5"),
                         self.ctl_json("get", "/registry/", "--prefix", "--limit=3", "--rev=5"))
        self.assertEqual(self.c.ok("kv", "get", "/kv/a", "--endpoints", self.ep, "-w", "simple").stdout,
                         b"/kv/a\none\n")
        # txn: value compare, success and failure branches, as etcdctl
        txn = 'val("/kv/a") = "one"\n\nput /kv/a "uno"\nget /kv/b\n\ndel /kv/b\n\n'
        r = subprocess.run([self.c.path, "kv", "txn", "--endpoints", self.ep, "-w", "json"],
                           input=txn.encode(), capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertTrue(got["succeeded"])
        self.assertEqual([list(op["Response"]) for op in got["responses"]], [["ResponsePut"], ["ResponseRange"]])
        self.assertEqual(got["responses"][1]["Response"]["ResponseRange"]["kvs"][0]["value"], etcdlab.b64(b"two"))
        r2 = subprocess.run([etcdlab.ETCDCTL, "--endpoints", self.ep, "txn", "-w", "json"], input=txn.encode(),
                            capture_output=True, env={**os.environ, "ETCDCTL_API": "3"}, timeout=30)
        ref = json.loads(r2.stdout)  # the compare now fails (the value is "uno"): the failure branch
        r3 = subprocess.run([self.c.path, "kv", "txn", "--endpoints", self.ep, "-w", "json"],
                            input=txn.encode(), capture_output=True, timeout=30)
        got = json.loads(r3.stdout)
        self.assertNotIn("succeeded", got)
        self.assertEqual(list(got["responses"][0]["Response"]), ["ResponseDeleteRange"])
        self.assertEqual(list(ref["responses"][0]["Response"]), ["ResponseDeleteRange"])
        self.assertEqual(ref["responses"][0]["Response"]["ResponseDeleteRange"].get("deleted"), 1)
        self.assertNotIn("deleted", got["responses"][0]["Response"]["ResponseDeleteRange"])  # already gone
        d = self.cpr_json("kv", "del", "/kv/", "--prefix", "--prev-kv")
        self.assertEqual(d["deleted"], 1)
        self.assertEqual(etcdlab.unb64(d["prev_kvs"][0]["key"]), b"/kv/a")
        self.assertEqual(self.ctl_json("get", "/kv/", "--prefix").get("count", 0), 0)

    def test_environment_variables(self):
        env = {**os.environ, "ETCDCTL_ENDPOINTS": self.ep, "ETCDCTL_WRITE_OUT": "json"}
        r = subprocess.run([self.c.path, "member", "list"], capture_output=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), self.ctl_json("member", "list"))
        # a flag wins over the variable
        env["ETCDCTL_ENDPOINTS"] = "127.0.0.1:1"
        r = subprocess.run([self.c.path, "member", "list", "--endpoints", self.ep], capture_output=True,
                           env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        env["ETCDCTL_DIAL_TIMEOUT"] = "bogus"
        r = subprocess.run([self.c.path, "member", "list"], capture_output=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--dial-timeout", r.stderr)

    def test_refused_endpoint(self):
        port = etcdlab.free_ports(1)[0]
        t0 = time.time()
        r = self.c.run("member", "list", "--endpoints", "127.0.0.1:%d" % port)
        self.assertEqual(r.returncode, 1)
        self.assertLess(time.time() - t0, 5)
        err = r.stderr.decode()
        self.assertIn("endpoint 127.0.0.1:%d" % port, err)
        self.assertIn("connection refused", err)
        self.assertEqual(r.stdout, b"")
        # failover: a dead endpoint first, a live one second
        r = self.c.ok("member", "list", "--endpoints", "127.0.0.1:%d,%s" % (port, self.ep), "-w", "json")
        self.assertEqual(json.loads(r.stdout), self.ctl_json("member", "list"))
        # per-endpoint commands report the dead one and fail
        r = self.c.run("endpoint", "health", "--endpoints", "127.0.0.1:%d,%s" % (port, self.ep), "-w", "json")
        self.assertEqual(r.returncode, 1)
        health = {h["endpoint"]: h for h in json.loads(r.stdout)}
        self.assertTrue(health[self.ep]["health"])
        self.assertFalse(health["127.0.0.1:%d" % port]["health"])
        self.assertIn("connection refused", health["127.0.0.1:%d" % port]["error"])
        self.assertIn(b"unhealthy cluster", r.stderr)

    def test_hanging_endpoint_times_out(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts TCP, never speaks HTTP/2
        try:
            ep = "127.0.0.1:%d" % s.getsockname()[1]
            t0 = time.time()
            r = self.c.run("endpoint", "status", "--endpoints", ep, "--dial-timeout", "700ms")
            took = time.time() - t0
            self.assertEqual(r.returncode, 1)
            self.assertLess(took, 4)
            self.assertIn("could not connect within 700ms (--dial-timeout)", r.stderr.decode())
            self.assertIn(ep, r.stderr.decode())
        finally:
            s.close()

    def test_usage_errors_exit_2(self):
        for args, what in [(["member", "list", "--endpoints", "nohost"], b"--endpoints"),
                           (["member", "list", "-w", "xml"], b"-w"),
                           (["member", "remove", "xyz"], b"hex"),
                           (["member", "add", "n1"], b"--peer-urls"),
                           (["endpoint", "status", "--command-timeout", "5"], b"--command-timeout"),
                           (["kv", "get", "a", "b", "--prefix"], b"too many arguments"),
                           (["member", "list", "--cacert", "/nonexistent.crt"], b"--cacert")]:
            r = self.c.run(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(what, r.stderr, args)


class Alarms(etcdlab.TestCase):
    """A real NOSPACE alarm: a 1 MB quota filled up."""

    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-client-alarm-")
        cls.e = etcdlab.Etcd("al", workdir=cls.tmp, extra=["--quota-backend-bytes", str(1 << 20)])
        cls.ep = cls.e.endpoint

    @classmethod
    def tearDownClass(cls):
        cls.e.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_nospace_alarm_list_and_disarm(self):
        for i in range(100):
            r = self.c.run("kv", "put", "/fill/%d" % i, "x" * 100000, "--endpoints", self.ep)
            if r.returncode != 0:
                self.assertIn(b"database space exceeded", r.stderr)
                break
        else:
            self.fail("the quota never filled")
        self.assertEqual(self.c.json("alarm", "list", "--endpoints", self.ep),
                         self.e.ctl_json("alarm", "list"))
        self.assertEqual(self.c.json("alarm", "list", "--endpoints", self.ep)["alarms"][0]["alarm"], 1)
        # simple: etcdctl prints the protobuf text form
        self.assertEqual(self.c.ok("alarm", "list", "--endpoints", self.ep, "-w", "simple").stdout,
                         self.e.ctl("alarm", "list").stdout)
        self.assertIn(b"NOSPACE", self.c.ok("alarm", "list", "--endpoints", self.ep).stdout)
        # free the space (as after a restore: compact, defrag), then disarm
        self.c.ok("kv", "del", "/fill/", "--prefix", "--endpoints", self.ep)
        rev = self.e.revision()
        self.e.compact(rev)
        self.c.ok("defrag", "--endpoints", self.ep)
        got = self.c.json("alarm", "disarm", "--endpoints", self.ep)
        self.assertEqual(got.get("alarms", [{}])[0].get("alarm"), 1)  # the alarm it disarmed
        self.assertEqual(self.e.ctl_json("alarm", "list"), {})
        self.assertEqual(self.c.json("alarm", "list", "--endpoints", self.ep), {})
        self.c.ok("kv", "put", "/after", "ok", "--endpoints", self.ep)


class Auth(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-client-auth-")
        cls.e = etcdlab.Etcd("au", workdir=cls.tmp)
        cls.ep = cls.e.endpoint  # http://127.0.0.1:PORT, as etcdlab gives etcdctl
        cls.e.put("/app/x", "1")
        cls.e.put("/secret/y", "2")
        cls.e.enable_auth("rootpw")

    @classmethod
    def tearDownClass(cls):
        cls.e.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_user_password_and_refusals(self):
        got = self.c.json("kv", "get", "/app/x", "--endpoints", self.ep, "--user", "root:rootpw")
        self.assertEqual(etcdlab.unb64(got["kvs"][0]["value"]), b"1")
        got = self.c.json("kv", "get", "/app/x", "--endpoints", self.ep, "--user", "root",
                          "--password", "rootpw")
        self.assertEqual(got["count"], 1)
        env = {**os.environ, "ETCDCTL_USER": "root:rootpw"}
        r = subprocess.run([self.c.path, "endpoint", "hashkv", "--endpoints", self.ep, "-w", "json"],
                           capture_output=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.c.run("kv", "get", "/app/x", "--endpoints", self.ep)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"authentication enabled", r.stderr)
        self.assertIn(b"--user", r.stderr)
        r = self.c.run("kv", "get", "/app/x", "--endpoints", self.ep, "--user", "root:wrong")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"authentication failed", r.stderr)
        r = self.c.run("kv", "get", "/secret/y", "--endpoints", self.ep, "--user", "alice:alicepw")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"permission denied", r.stderr)
        # no terminal to ask a password on: a clear usage error, not a hang
        r = self.c.run("kv", "get", "/app/x", "--endpoints", self.ep, "--user", "root",
                       stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"no password", r.stderr)
        # backup needs root: as root it works on an auth-enabled cluster
        out = os.path.join(self.tmp, "bk")
        doc = self.c.json("backup", out, "--no-resources", "--endpoints", self.ep, "--user", "root:rootpw")
        self.assertGreater(doc["revision"], 0)


if __name__ == "__main__":
    etcdlab.main()
