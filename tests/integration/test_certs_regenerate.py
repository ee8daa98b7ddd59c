"""The expired-certificate disaster (seed §3.4) on a lab tree: `pki init`
certificates issued to last seconds run a real etcd with mutual TLS; etcd is
stopped and the certificates are waited out; `certs check` fails and etcd
refuses clients; `certs regenerate` re-issues them from the CA key: `certs
check` is clean, subjects and SANs are unchanged, the old files are in the
moved-aside folder, and etcd starts again on the same files and serves the
data it had.
"""
import json
import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdlab  # noqa: E402
import pkilab  # noqa: E402
from pkilab import TlsCluster, subject_and_sans, tempdir, verify  # noqa: E402

HOSTS = {"r1": "127.0.0.64"}
LIFETIME = 12  # seconds


class ExpiredCertificates(etcdlab.TestCase):
    def setUp(self):
        self.d = tempdir("cpr-regen-")
        self.pki = os.path.join(self.d, "pki")
        self.cluster = None

    def tearDown(self):
        if self.cluster:
            self.cluster.stop()
        pkilab.stop_all()
        shutil.rmtree(self.d, ignore_errors=True)

    def test_regenerate_after_expiry_and_etcd_serves_again(self):
        cpr = self.cpr()
        made = time.time()
        cpr.ok("pki", "init", "--dir", self.pki, "--hosts", "r1=127.0.0.64",
               "--validity", "%ds" % LIFETIME)
        leaves = [os.path.join(self.pki, p) for p in
                  ("r1/peer.crt", "r1/server.crt", "r1/metric.crt", "admin.crt")]
        before = {p: subject_and_sans(p) for p in leaves}
        keys_before = {p: etcdlab.read(p[:-4] + ".key", "r") for p in leaves}

        c = self.cluster = TlsCluster(self.pki, HOSTS, self.d)
        c.start()
        self.assertTrue(c.wait_healthy(20), c.logs())
        c.ctl("put", "/cpr/kept", "survives-expiry")
        c.stop()

        # Wait the certificates out (they started 5 minutes back-dated).
        time.sleep(max(0.0, made + LIFETIME + 1.5 - time.time()))
        chk = cpr.run("certs", "check", self.pki, "-w", "json")
        self.assertEqual(chk.returncode, 1)
        doc = json.loads(chk.stdout)
        self.assertEqual(doc["summary"]["counts"]["expired"], 4, doc["summary"])

        # etcd with expired certificates: clients are refused.
        c.start()
        time.sleep(1.0)
        r = c.ctl("get", "/cpr/kept", check=False, timeout=20)
        self.assertNotEqual(r.returncode, 0, "etcd served clients on expired certificates")
        c.stop()

        # What would change, then change it.
        dry = cpr.json("certs", "regenerate", self.pki, "--dry-run")
        self.assertEqual(dry["changed"], 4)
        self.assertTrue(all(a["action"] == "reissue" for a in dry["actions"]), dry)
        self.assertEqual(subject_and_sans(leaves[0]), before[leaves[0]])
        res = cpr.json("certs", "regenerate", self.pki, "--validity", "90d")
        self.assertEqual(res["changed"], 4, res)
        backup = res["backupDir"]
        self.assertTrue(os.path.isdir(backup))
        self.assertEqual(os.path.dirname(backup), self.d)  # next to the tree, not inside it

        ok = cpr.json("certs", "check", self.pki)
        self.assertTrue(ok["summary"]["ok"], ok)
        # 2 CAs + the copy in metric-ca.crt + 4 leaves + the recovery API's 3 CAs
        self.assertEqual(ok["summary"]["counts"]["valid"], 10)
        for p in leaves:
            self.assertEqual(subject_and_sans(p), before[p], p)
            self.assertEqual(etcdlab.read(p[:-4] + ".key", "r"), keys_before[p], "key of %s changed" % p)
            old = os.path.join(backup, p.lstrip("/"))
            self.assertTrue(os.path.isfile(old), old)
            self.assertNotEqual(etcdlab.read(old, "r"), etcdlab.read(p, "r"))
            ca = os.path.join(self.pki, "metric-ca.crt" if "metric" in p else "ca.crt")
            self.assertEqual(verify(ca, p).returncode, 0, p)

        # etcd starts on the same (regenerated) files and serves what it had.
        c.start()
        self.assertTrue(c.wait_healthy(20), c.logs())
        g = c.ctl("get", "/cpr/kept", "--print-value-only")
        self.assertEqual(g.stdout.strip(), "survives-expiry")


if __name__ == "__main__":
    etcdlab.main()
