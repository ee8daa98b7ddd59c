"""A 3-member real etcd 3.4 cluster on `cpr pki init` certificates: mutual
TLS on every client and peer connection; etcdctl (the oracle) works with the
admin certificate; a client certificate from a foreign CA, an expired one,
one without clientAuth and plain HTTP are refused by etcd.
"""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdlab  # noqa: E402
import pkilab  # noqa: E402
from pkilab import TlsCluster, ossl_ca, ossl_leaf, tempdir  # noqa: E402

HOSTS = {"n1": "127.0.0.61", "n2": "127.0.0.62", "n3": "127.0.0.63"}


class ThreeMemberMtls(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = tempdir("cpr-pki-it-")
        cls.pki = os.path.join(cls.d, "pki")
        cpr = etcdlab.cpr()
        cpr.ok("pki", "init", "--dir", cls.pki, "--hosts", ",".join("%s=%s" % kv for kv in HOSTS.items()))
        cls.cluster = TlsCluster(cls.pki, HOSTS, cls.d)
        cls.cluster.start()
        if not cls.cluster.wait_healthy(40):
            logs = cls.cluster.logs()
            cls.cluster.stop()
            raise AssertionError("TLS cluster did not become healthy:\n" + logs)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()
        pkilab.stop_all()
        shutil.rmtree(cls.d, ignore_errors=True)

    def test_members_and_data_over_mtls(self):
        c = self.cluster
        r = c.ctl("member", "list", "-w", "json")
        import json
        members = json.loads(r.stdout)["members"]
        self.assertEqual(sorted(m["name"] for m in members), sorted(HOSTS))
        for m in members:
            self.assertTrue(all(u.startswith("https://") for u in m["peerURLs"] + m["clientURLs"]), m)
        c.ctl("put", "/cpr/tls", "over-mtls")
        for ip in HOSTS.values():  # every member serves it
            g = c.ctl("get", "/cpr/tls", "--print-value-only", endpoints="https://%s:%d" % (ip, c.cport))
            self.assertEqual(g.stdout.strip(), "over-mtls")
        # The server certificates double as clients (etcd dials itself with them).
        s = c.ctl("get", "/cpr/tls", "--print-value-only", cert=os.path.join(self.pki, "n2", "server.crt"),
                  key=os.path.join(self.pki, "n2", "server.key"))
        self.assertEqual(s.stdout.strip(), "over-mtls")

    def test_foreign_expired_and_wrong_usage_clients_refused(self):
        c, d = self.cluster, self.d
        # A client certificate from another CA.
        fca, fkey = ossl_ca(d, "foreign-ca", "foreign")
        fcrt, fk = ossl_leaf(d, "foreign-client", "intruder", fca, fkey, days=2)
        r = c.ctl("get", "/cpr/x", cert=fcrt, key=fk, check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        # An expired client certificate from the right CA.
        ecrt, ek = ossl_leaf(d, "expired-client", "late", os.path.join(self.pki, "ca.crt"),
                             os.path.join(self.pki, "ca.key"), start="20200101000000Z",
                             end="20200201000000Z")
        self.assertEqual(pkilab.verify(os.path.join(self.pki, "ca.crt"), ecrt, "-no_check_time").returncode, 0)
        r = c.ctl("get", "/cpr/x", cert=ecrt, key=ek, check=False)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        # The metrics certificate has no clientAuth (and another CA): refused.
        r = c.ctl("get", "/cpr/x", cert=os.path.join(self.pki, "n1", "metric.crt"),
                  key=os.path.join(self.pki, "n1", "metric.key"), check=False)
        self.assertNotEqual(r.returncode, 0)
        # No client certificate at all / plain HTTP.
        import subprocess
        r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", c.endpoints(), "--cacert",
                            os.path.join(self.pki, "ca.crt"), "--dial-timeout", "2s",
                            "--command-timeout", "3s", "get", "/cpr/x"],
                           capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"})
        self.assertNotEqual(r.returncode, 0)
        r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", c.endpoints().replace("https", "http"),
                            "--dial-timeout", "2s", "--command-timeout", "3s", "get", "/cpr/x"],
                           capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"})
        self.assertNotEqual(r.returncode, 0)
        # The right admin certificate still works (the refusals were about the certificates).
        self.assertEqual(c.ctl("endpoint", "health").returncode, 0)

    def test_cpr_client_over_mtls(self):
        c = self.cluster
        c.ctl("put", "/cpr/client", "seen-by-cpr")
        tls = ["--endpoints", c.endpoints(), "--cacert", os.path.join(self.pki, "ca.crt"),
               "--cert", os.path.join(self.pki, "admin.crt"), "--key", os.path.join(self.pki, "admin.key")]
        r = self.cpr().ok("kv", "get", "/cpr/client", "--print-value-only", *tls)
        self.assertEqual(r.stdout.decode().strip(), "seen-by-cpr")
        self.cpr().ok("endpoint", "health", *tls)
        # A client certificate from another CA: refused by etcd, reported by cpr.
        fca, fkey = ossl_ca(self.d, "foreign-ca2", "foreign2")
        fcrt, fk = ossl_leaf(self.d, "foreign-client2", "intruder2", fca, fkey, days=2)
        bad = ["--endpoints", c.endpoints(), "--cacert", os.path.join(self.pki, "ca.crt"),
               "--cert", fcrt, "--key", fk, "--dial-timeout", "2s", "--command-timeout", "3s"]
        r = self.cpr().run("kv", "get", "/cpr/client", *bad, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(b"seen-by-cpr", r.stdout)

    def test_certs_check_on_the_live_tree(self):
        cas = [a for ca in ("ca", "metric-ca", "kube-ca", "kubelet-client-ca", "kubelet-serving-ca")
               for a in ("--ca", os.path.join(self.pki, ca + ".crt"))]
        r = self.cpr().json("certs", "check", self.pki, *cas)
        self.assertTrue(r["summary"]["ok"], r)
        # metric-ca.crt holds 2; kube-ca, kubelet-client-ca, kubelet-serving-ca (recovery API)
        self.assertEqual(r["summary"]["counts"]["valid"], 3 + 3 * 3 + 1 + 3)


if __name__ == "__main__":
    etcdlab.main()
