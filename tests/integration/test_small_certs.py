"""`cpr pki init`, `cpr certs check` and `cpr certs regenerate --dry-run` on
trees made here, mostly with the openssl command line (no etcd: quick, also
run under ASan/UBSan).
"""
import json
import os
import shutil
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdlab  # noqa: E402
from pkilab import ossl_ca, ossl_leaf, sh, tempdir, utc_stamp, verify  # noqa: E402


class CertsCheck(etcdlab.TestCase):
    def setUp(self):
        self.d = tempdir("cpr-certs-")

    def tearDown(self):
        shutil.rmtree(self.d, ignore_errors=True)

    def check_json(self, *args, rc=None):
        r = self.cpr().run("certs", "check", *args, "-w", "json")
        if rc is not None:
            self.assertEqual(r.returncode, rc, r.stderr.decode())
        doc = json.loads(r.stdout)
        return r, doc, {(os.path.basename(c["path"]), c.get("source", ""), c["index"]): c
                        for c in doc["certificates"]}

    def test_classifies_openssl_made_certificates(self):
        d = self.d
        ca, cakey = ossl_ca(d, "ca", "bar-ca", days=365)
        ossl_leaf(d, "valid", "valid", ca, cakey, days=200, san="DNS:valid,IP:10.1.2.3")
        ossl_leaf(d, "expiring", "expiring", ca, cakey, days=5)
        ossl_leaf(d, "expired", "expired", ca, cakey, start="20200101000000Z", end="20200201000000Z")
        ossl_leaf(d, "future", "future", ca, cakey, start=utc_stamp(86400 * 3), end=utc_stamp(86400 * 90))
        # key mismatch: swap two keys
        ossl_leaf(d, "m1", "m1", ca, cakey, days=100)
        ossl_leaf(d, "m2", "m2", ca, cakey, days=100)
        os.rename(os.path.join(d, "m2.key"), os.path.join(d, "m1.key"))
        # foreign CA: one with another name, one with the same name and another key
        fdir = os.path.join(d, "foreign")
        os.mkdir(fdir)
        fca, fkey = ossl_ca(fdir, "fca", "foreign-ca")
        ossl_leaf(d, "theirs", "theirs", fca, fkey, days=100)
        ica, ikey = ossl_ca(fdir, "ica", "bar-ca")
        ossl_leaf(d, "forged", "forged", ica, ikey, days=100)
        shutil.rmtree(fdir)  # the foreign CAs are not in the tree
        with open(os.path.join(d, "garbled.crt"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nMIIB@@@@\n-----END CERTIFICATE-----\n")

        r, doc, by = self.check_json(d, rc=1)
        st = {k[0]: v["status"] for k, v in by.items()}
        self.assertEqual(st, {
            "ca.crt": "valid", "valid.crt": "valid", "expiring.crt": "expiring",
            "expired.crt": "expired", "future.crt": "not yet valid", "m1.crt": "key mismatch",
            "m2.crt": "valid",  # its key is gone: nothing to compare
            "theirs.crt": "valid",  # issuer unknown here: noted, not failed
            "forged.crt": "broken chain", "garbled.crt": "unreadable"}, json.dumps(doc, indent=1))
        v = by[("valid.crt", "", 0)]
        self.assertEqual(v["dnsNames"], ["valid"])
        self.assertEqual(v["ipAddresses"], ["10.1.2.3"])
        self.assertEqual(v["issuer"], "CN=bar-ca")
        self.assertIn(v["daysLeft"], (199, 200))
        self.assertLess(by[("expired.crt", "", 0)]["daysLeft"], -1000)
        self.assertEqual(by[("expired.crt", "", 0)]["notAfter"], "2020-02-01T00:00:00Z")
        self.assertFalse(doc["summary"]["ok"])
        self.assertEqual(doc["summary"]["counts"]["expired"], 1)
        # With the real CA as anchor, the foreign one is a broken chain too.
        _, _, by2 = self.check_json("--ca", ca, d, rc=1)
        self.assertEqual(by2[("theirs.crt", "", 0)]["status"], "broken chain")
        self.assertEqual(by2[("valid.crt", "", 0)]["status"], "valid")
        # Table output: names the expired file, a summary line.
        t = self.cpr().run("certs", "check", d)
        self.assertEqual(t.returncode, 1)
        out = t.stdout.decode()
        self.assertIn("expired.crt: expired", out)
        self.assertIn("1 expired", out.splitlines()[-1])
        # --warn 1d: "expiring" (5 days) becomes valid.
        _, _, by3 = self.check_json("--warn", "1d", d, rc=1)
        self.assertEqual(by3[("expiring.crt", "", 0)]["status"], "valid")

    def test_valid_tree_passes_and_usage_errors(self):
        ca, cakey = ossl_ca(self.d, "ca", "ok-ca")
        ossl_leaf(self.d, "a", "a", ca, cakey, days=100)
        r = self.cpr().run("certs", "check", self.d)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        self.assertIn("2 certificate(s): 2 valid", r.stdout.decode())
        self.assertEqual(self.cpr().run("certs", "check", "--warn", "soon", self.d).returncode, 2)
        self.assertEqual(self.cpr().run("certs", "check", "-w", "xml", self.d).returncode, 2)
        missing = self.cpr().run("certs", "check", os.path.join(self.d, "nope"))
        self.assertEqual(missing.returncode, 1)
        self.assertIn("nope", missing.stderr.decode())

    def test_kubeconfig_certificates(self):
        import base64
        ca, cakey = ossl_ca(self.d, "ca", "kube-ca")
        crt, key = ossl_leaf(self.d, "admin", "system:admin", ca, cakey,
                             start="20200101000000Z", end="20200201000000Z")
        b64 = lambda p: base64.b64encode(etcdlab.read(p)).decode()
        kc = os.path.join(self.d, "sub", "admin.kubeconfig")
        os.mkdir(os.path.dirname(kc))
        with open(kc, "w") as f:
            f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
                    "    certificate-authority-data: %s\n    server: https://localhost:6443\n"
                    "users:\n- name: admin\n  user:\n    client-certificate-data: %s\n"
                    "    client-key-data: %s\n" % (b64(ca), b64(crt), b64(key)))
        os.unlink(crt)
        os.unlink(key)
        _, doc, by = self.check_json(os.path.join(self.d, "sub"), "--ca", ca, rc=1)
        client = by[("admin.kubeconfig", "kubeconfig client-certificate-data #1", 0)]
        self.assertEqual(client["status"], "expired")
        self.assertIn("client-key-data", client["keyFile"])
        self.assertEqual(by[("admin.kubeconfig", "kubeconfig certificate-authority-data #1", 0)]["status"],
                         "valid")


class PkiInitSmall(etcdlab.TestCase):
    def test_layout_modes_and_openssl_verify(self):
        d = tempdir("cpr-pki-")
        try:
            out = os.path.join(d, "pki")
            r = self.cpr().json("pki", "init", "--dir", out, "--hosts", "a=127.0.0.61,b=127.0.0.62",
                                "--validity", "peer=60d,ca=2y", "--key-type", "rsa")
            self.assertEqual(len(r["files"]), 12)  # 9 of etcd's, 3 CAs of the recovery API
            for ca in ("kube-ca", "kubelet-client-ca", "kubelet-serving-ca"):
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, ca + ".key")).st_mode), 0o600, ca)
            self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o700)
            for rel in ("ca.key", "metric-ca.key", "admin.key", "a/peer.key", "b/metric.key"):
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(out, rel)).st_mode), 0o600, rel)
            for h in ("a", "b"):
                for f, ca in (("peer", "ca"), ("server", "ca"), ("metric", "metric-ca")):
                    v = verify(os.path.join(out, ca + ".crt"), os.path.join(out, h, f + ".crt"))
                    self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
            text = sh("openssl", "x509", "-noout", "-text", "-in", os.path.join(out, "a", "peer.crt")).stdout
            self.assertIn("Subject: O = system:etcd-peers, CN = system:etcd-peer:a", text)
            self.assertIn("DNS:a, DNS:localhost, IP Address:127.0.0.61, IP Address:127.0.0.1", text)
            self.assertIn("Public-Key: (2048 bit)", text)
            end = sh("openssl", "x509", "-noout", "-enddate", "-in", os.path.join(out, "a", "peer.crt")).stdout
            days = (time.mktime(time.strptime(end.strip().split("=")[1], "%b %d %H:%M:%S %Y GMT")) -
                    time.mktime(time.gmtime())) / 86400
            self.assertAlmostEqual(days, 60, delta=1)
            # Running it again never overwrites; exit 1 and nothing changed.
            before = etcdlab.read(os.path.join(out, "a", "peer.crt"), "r")
            again = self.cpr().run("pki", "init", "--dir", out, "--hosts", "a=127.0.0.61")
            self.assertEqual(again.returncode, 1)
            self.assertIn("already exists", again.stderr.decode())
            self.assertEqual(etcdlab.read(os.path.join(out, "a", "peer.crt"), "r"), before)
            self.assertEqual(self.cpr().run("pki", "init", "--dir", out, "--hosts", "c=1.2.3").returncode, 2)
            # certs check: all valid; regenerate --dry-run: nothing to do, nothing written.
            self.assertEqual(self.cpr().run("certs", "check", out).returncode, 0)
            dry = self.cpr().run("certs", "regenerate", "--dry-run", out)
            self.assertEqual(dry.returncode, 0)
            self.assertIn("nothing to regenerate", dry.stdout.decode())
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_init_refuses_open_dirs_and_readable_keys(self):
        d = tempdir("cpr-pki-modes-")
        try:
            # An existing directory others may write into: refused, nothing written.
            out = os.path.join(d, "open")
            os.mkdir(out)
            os.chmod(out, 0o777)
            r = self.cpr().run("pki", "init", "--dir", out, "--hosts", "a=127.0.0.61")
            self.assertEqual(r.returncode, 1, r.stderr.decode())
            self.assertIn("mode 0777", r.stderr.decode())
            self.assertEqual(os.listdir(out), [])
            self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o777)
            # The same for a host's directory inside a good one.
            good = os.path.join(d, "good")
            os.mkdir(good, 0o700)
            os.mkdir(os.path.join(good, "a"))
            os.chmod(os.path.join(good, "a"), 0o757)
            r = self.cpr().run("pki", "init", "--dir", good, "--hosts", "a=127.0.0.61")
            self.assertEqual(r.returncode, 1, r.stderr.decode())
            self.assertIn("mode 0757", r.stderr.decode())
            self.assertFalse(os.path.exists(os.path.join(good, "ca.key")))
            # A CA key others may read: refused, not reused silently.
            out = os.path.join(d, "pki")
            self.cpr().ok("pki", "init", "--dir", out, "--hosts", "a=127.0.0.61")
            os.chmod(os.path.join(out, "ca.key"), 0o644)
            r = self.cpr().run("pki", "init", "--dir", out, "--hosts", "b=127.0.0.62")
            self.assertEqual(r.returncode, 1, r.stderr.decode())
            self.assertIn("ca.key", r.stderr.decode())
            self.assertIn("mode 0644", r.stderr.decode())
            self.assertFalse(os.path.exists(os.path.join(out, "b")))
            # Fixed by the operator: reused.
            os.chmod(os.path.join(out, "ca.key"), 0o600)
            self.cpr().ok("pki", "init", "--dir", out, "--hosts", "b=127.0.0.62")
            v = verify(os.path.join(out, "ca.crt"), os.path.join(out, "b", "peer.crt"))
            self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    etcdlab.main()
