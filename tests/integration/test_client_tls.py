#!/usr/bin/python3
"""The client over mutual TLS against a real etcd 3.4 that requires client
certificates (--client-cert-auth), certificates made here with the openssl
CLI (etcdlab.Pki): the right ones work and give etcdctl's answers; every
wrong one fails with exit 1 and says which side refused what:

  wrong CA (--cacert of another CA), no client certificate, a client
  certificate from another CA, an expired client certificate, a key that
  does not match, plaintext to a TLS endpoint, TLS to a plaintext endpoint,
  a serving certificate that does not name the address dialled.
A backup over mTLS is taken and verified too."""
import json
import os
import shutil
import tempfile

import etcdlab


class Tls(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-tls-")
        cls.pki = etcdlab.Pki(cls.tmp)
        cls.cl = etcdlab.Cluster(1, pki=cls.pki, workdir=os.path.join(cls.tmp, "c"))
        cls.https = "https://" + cls.cl.endpoint(0)

    @classmethod
    def tearDownClass(cls):
        cls.cl.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fails(self, *args, want=(), code=1):
        r = self.c.run(*args)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, code, err)
        self.assertEqual(r.stdout, b"")
        for w in want:
            self.assertIn(w, err)
        return err

    def test_mutual_tls_works_and_matches_etcdctl(self):
        for ep in (self.https, self.cl.endpoint(0)):  # https://, or host:port with certificates
            got = self.c.json("member", "list", "--endpoints", ep, *self.pki.client_flags())
            self.assertEqual(got, self.cl.ctl_json("member", "list"))
        got = self.c.json("endpoint", "hashkv", "--endpoints", self.cl.endpoint(0), *self.pki.client_flags())
        self.assertEqual(got, self.cl.ctl_json("endpoint", "hashkv"))
        # the environment variables etcdctl users set
        env = {**os.environ, "ETCDCTL_ENDPOINTS": self.https, "ETCDCTL_CACERT": self.pki.ca["cert"],
               "ETCDCTL_CERT": self.pki.client["cert"], "ETCDCTL_KEY": self.pki.client["key"]}
        import subprocess
        r = subprocess.run([self.c.path, "endpoint", "status", "-w", "json"], env=env,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)[0]["Endpoint"], self.https)
        # localhost is in the serving certificate too
        self.c.ok("member", "list", "--endpoints", "https://localhost:%d" % self.cl.cports[0],
                  *self.pki.client_flags())

    def test_wrong_ca(self):
        self.fails("member", "list", "--endpoints", self.https,
                   *self.pki.client_flags("client", ca=self.pki.other_ca),
                   want=("endpoint " + self.https, "not signed by a CA in --cacert", "other-ca.crt"))

    def test_no_client_certificate(self):
        self.fails("member", "list", "--endpoints", self.https, *self.pki.client_flags(None),
                   want=("endpoint " + self.https, "closed the TLS connection", "--cert and --key"))

    def test_client_certificate_from_another_ca(self):
        self.fails("member", "list", "--endpoints", self.https, *self.pki.client_flags("rogue"),
                   want=("endpoint " + self.https, "client certificate", "--trusted-ca-file"))

    def test_expired_client_certificate(self):
        err = self.fails("member", "list", "--endpoints", self.https, *self.pki.client_flags("expired"),
                         want=("--cert", "expired on", "2020"))
        self.assertIn(self.pki.expired["cert"], err)

    def test_key_not_matching_certificate(self):
        self.fails("member", "list", "--endpoints", self.https, "--cacert", self.pki.ca["cert"],
                   "--cert", self.pki.client["cert"], "--key", self.pki.rogue["key"],
                   want=("--key", "does not match"), code=2)

    def test_plaintext_to_tls_endpoint(self):
        self.fails("member", "list", "--endpoints", "http://" + self.cl.endpoint(0),
                   want=("closed the connection", "https://"))

    def test_tls_to_plaintext_endpoint(self):
        os.makedirs(os.path.join(self.tmp, "plain"), exist_ok=True)
        e = etcdlab.Etcd("plain", workdir=os.path.join(self.tmp, "plain"))
        try:
            port = e.endpoint.rsplit(":", 1)[1]
            self.fails("member", "list", "--endpoints", "https://127.0.0.1:" + port,
                       *self.pki.client_flags(), want=("endpoint https://127.0.0.1:" + port, "TLS"))
        finally:
            e.cleanup()

    def test_server_certificate_not_naming_the_address(self):
        cl = etcdlab.Cluster(1, pki=self.pki, workdir=os.path.join(self.tmp, "misnamed"),
                             server_cert="misnamed")
        try:
            self.fails("member", "list", "--endpoints", "https://" + cl.endpoint(0),
                       *self.pki.client_flags(), want=("does not name '127.0.0.1'", "SANs"))
        finally:
            cl.cleanup()

    def test_backup_over_mutual_tls(self):
        out = os.path.join(self.tmp, "bk")
        doc = self.c.json("backup", out, "--no-resources", "--endpoints", self.https,
                          *self.pki.client_flags())
        st = etcdlab.etcdctl_status(doc["snapshot"]["path"])
        self.assertEqual(st["revision"], doc["revision"])
        self.assertEqual(doc["hashKV"], self.cl.ctl_json("endpoint", "hashkv", "--rev",
                                                         str(doc["revision"]))[0]["HashKV"]["hash"])


if __name__ == "__main__":
    etcdlab.main()
