"""The signer's CA read offline out of a backup (a dead 4.3 cluster keeps the
etcd CA keys only in the openshift-config/etcd-signer and etcd-metric-signer
Secrets): values in the API server's exact `k8s\\0` protobuf form, one of them
encrypted at rest with aescbc, in a snapshot saved by real etcd; the signer
serves from it (with the encryption config) and its certificates verify
against the original CAs.
"""
import base64
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdlab  # noqa: E402
import pkilab  # noqa: E402
from pkilab import aescbc, free_port, spawn, stop_proc, tempdir, tls_secret, verify, wait_port  # noqa: E402

IP = "127.0.0.82"


class SignerFromSnapshot(etcdlab.TestCase):
    def test_serves_from_the_secrets_in_a_backup(self):
        d = tempdir("cpr-signer-snap-")
        proc = None
        try:
            cpr = self.cpr()
            pki = os.path.join(d, "pki")
            cpr.ok("pki", "init", "--dir", pki, "--hosts", "old1=127.0.0.83")
            enc_key = os.urandom(32)
            pkilab.encryption_config(os.path.join(d, "encryption-config.yaml"),
                                     [("key2", os.urandom(32)), ("key1", enc_key)])
            snap = os.path.join(d, "snapshot_2020-03-01_120000.db")
            with etcdlab.Etcd(workdir=d) as e:
                e.put("/kubernetes.io/secrets/openshift-config/etcd-signer",
                      aescbc(enc_key, "key1", tls_secret("openshift-config", "etcd-signer",
                                                         os.path.join(pki, "ca.crt"),
                                                         os.path.join(pki, "ca.key"))))
                e.put("/kubernetes.io/secrets/openshift-config/etcd-metric-signer",
                      tls_secret("openshift-config", "etcd-metric-signer", os.path.join(pki, "metric-ca.crt"),
                                 os.path.join(pki, "metric-ca.key")))
                e.put("/kubernetes.io/secrets/openshift-config/unrelated", b"k8s\x00junk")
                e.save(snap)
            state = os.path.join(d, "state")
            port = free_port([IP])
            listen = "%s:%d" % (IP, port)
            # Without the encryption config: refused, naming the key it needs.
            r = cpr.run("signer", "serve", "--snapshot", snap, "--listen", listen, "--state", state)
            self.assertEqual(r.returncode, 1)
            self.assertIn("key1", r.stderr.decode())
            # With a config holding only a wrong key1.
            bad = os.path.join(d, "bad.yaml")
            with open(bad, "w") as f:
                f.write("resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n"
                        "      - name: key1\n        secret: %s\n" % base64.b64encode(os.urandom(32)).decode())
            r = cpr.run("signer", "serve", "--snapshot", snap, "--encryption-config", bad, "--listen", listen,
                        "--state", state)
            self.assertEqual(r.returncode, 1)
            self.assertIn("failed", r.stderr.decode())

            log = os.path.join(d, "signer.log")
            proc = spawn([etcdlab.CPR_PATH, "signer", "serve", "--snapshot", snap, "--encryption-config",
                          os.path.join(d, "encryption-config.yaml"), "--listen", listen, "--state", state], log)
            self.assertTrue(wait_port(IP, port, 15), etcdlab.read(log, "r"))
            self.assertIn("etcd-signer", etcdlab.read(os.path.join(d, "signer.log"), "r"))
            out = os.path.join(d, "new1")
            for profile, ca, crt in (("peer", "ca.crt", "peer.crt"), ("metrics", "metric-ca.crt", "metric.crt")):
                tok = cpr.json("signer", "token", "new1", "--ip", "127.0.0.84", "--profile", profile,
                               "--dir", out, "--state", state)
                # CPR_SIGNER_TOKEN=T cpr certs request ...: the token never in the arguments.
                cmd = tok["command"].split()
                self.assertEqual(cmd[0], "CPR_SIGNER_TOKEN=" + tok["token"])
                self.assertEqual(cmd[1:4], ["cpr", "certs", "request"])
                self.assertNotIn(tok["token"], " ".join(cmd[1:]))
                self.assertIn("--dir %s" % out, tok["command"])
                # Run exactly the command the token printed.
                r = cpr.run(*cmd[2:], extra_env={"CPR_SIGNER_TOKEN": tok["token"]})
                self.assertEqual(r.returncode, 0, r.stderr.decode())
                v = verify(os.path.join(pki, ca), os.path.join(out, crt))
                self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        finally:
            if proc:
                stop_proc(proc)
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    etcdlab.main()
