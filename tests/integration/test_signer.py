"""The temporary signer over real HTTPS: `cpr signer serve|token|stop` and
`cpr certs request`. One certificate per host-bound token; every bad request
refused with a logged reason and nothing signed (no token, wrong or altered
token, replay, another host's name or IP, extra SANs, a wildcard, CA:TRUE,
codeSigning, an over-long lifetime, a CSR whose signature does not verify,
garbage and oversized bodies, the wrong content type, malformed TLS); two
concurrent requests with one token give exactly one certificate; a new
member runs real etcd on the certificates it got; no token or key ever
appears in a log or an output other than the token command's.
"""
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdlab  # noqa: E402
import pkilab  # noqa: E402
from pkilab import free_port, spawn, stop_proc, tempdir, verify, wait_port  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

SIGNER_IP = "127.0.0.71"
CSR_PATH = "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests"


def make_csr(cn, org, dns=(), ips=(), ca=False, eku=None):
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if ca:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def tamper(pem):
    """The same CSR with one byte of the subject changed: its signature no longer verifies."""
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    i = der.index(b"system:etcd-peer:")
    der = der[:i] + b"S" + der[i + 1:]
    return (b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(der) +
            b"-----END CERTIFICATE REQUEST-----\n")


def csr_body(name, pem, **spec):
    return json.dumps({"apiVersion": "certificates.k8s.io/v1beta1", "kind": "CertificateSigningRequest",
                       "metadata": {"name": name},
                       "spec": dict({"request": base64.b64encode(pem).decode(),
                                     "usages": ["digital signature", "key encipherment", "server auth",
                                                "client auth"]}, **spec)})


class Signer(etcdlab.TestCase):
    tokens = []  # every token issued: must never show up in a log

    @classmethod
    def setUpClass(cls):
        cls.d = tempdir("cpr-signer-")
        cls.pki = os.path.join(cls.d, "pki")
        cls.state = os.path.join(cls.d, "state")
        cpr = etcdlab.cpr()
        cpr.ok("pki", "init", "--dir", cls.pki, "--hosts", "s1=" + SIGNER_IP)
        cls.port = free_port([SIGNER_IP])
        cls.url = "https://%s:%d" % (SIGNER_IP, cls.port)
        cls.log = os.path.join(cls.d, "signer.log")
        cls.proc = spawn([etcdlab.CPR_PATH, "signer", "serve", "--pki", cls.pki, "--listen",
                          "%s:%d" % (SIGNER_IP, cls.port), "--state", cls.state, "--validity", "30d"],
                         cls.log)
        if not wait_port(SIGNER_IP, cls.port, 15):
            stop_proc(cls.proc)
            raise AssertionError("signer did not listen: " + etcdlab.read(cls.log, "r"))

    @classmethod
    def tearDownClass(cls):
        stop_proc(cls.proc)
        pkilab.stop_all()
        shutil.rmtree(cls.d, ignore_errors=True)

    # -- helpers ---------------------------------------------------------
    def token(self, host, ip, profile="peer", extra=()):
        r = self.cpr().json("signer", "token", host, "--ip", ip, "--profile", profile,
                            "--state", self.state, *extra)
        self.assertEqual(r["host"], host)
        self.assertIn("certs request", r["command"])
        Signer.tokens.append(r["token"])
        return r

    def request(self, token, name, ip, out, profile="peer", check_rc=None):
        r = self.cpr().run("certs", "request", "--signer", self.url, "--token", token, "--profile", profile,
                           "--name", name, "--ip", ip, "--dir", out, "--cacert",
                           os.path.join(self.state, "ca.crt"))
        if check_rc is not None:
            self.assertEqual(r.returncode, check_rc, r.stderr.decode())
        return r

    def post(self, body, token=None, ctype="application/json"):
        ctx = ssl.create_default_context(cafile=os.path.join(self.state, "ca.crt"))
        conn = http.client.HTTPSConnection(SIGNER_IP, self.port, context=ctx, timeout=10)
        headers = {"Content-Type": ctype}
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request("POST", CSR_PATH, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def issued_count(self):
        d = os.path.join(self.state, "issued")
        return len(os.listdir(d)) if os.path.isdir(d) else 0

    # -- tests -------------------------------------------------------------
    def test_a_token_request_and_replay(self):
        t = self.token("p4", "127.0.0.74")
        out = os.path.join(self.d, "p4")
        self.request(t["token"], "p4", "127.0.0.74", out, check_rc=0)
        crt, key = os.path.join(out, "peer.crt"), os.path.join(out, "peer.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o700)
        v = verify(os.path.join(self.pki, "ca.crt"), crt)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertEqual(etcdlab.read(os.path.join(out, "ca.crt"), "r"), etcdlab.read(os.path.join(self.pki, "ca.crt"), "r"))
        c = x509.load_pem_x509_certificate(etcdlab.read(crt))
        self.assertEqual(c.subject.rfc4514_string(), "CN=system:etcd-peer:p4,O=system:etcd-peers")
        self.assertFalse(c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
        eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        self.assertEqual(set(eku), {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH})
        self.assertLessEqual((c.not_valid_after - c.not_valid_before).days, 31)
        sans = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertIn("p4", sans.get_values_for_type(x509.DNSName))
        # The key was made here and matches.
        k = serialization.load_pem_private_key(etcdlab.read(key), None)
        self.assertEqual(k.public_key().public_numbers(), c.public_key().public_numbers())
        # Replay of the spent token: refused, nothing written.
        r = self.request(t["token"], "p4", "127.0.0.74", os.path.join(self.d, "p4b"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spent", r.stderr.decode())
        self.assertFalse(os.path.exists(os.path.join(self.d, "p4b", "peer.key")))
        # Output never shows the token.
        self.assertNotIn(t["token"], r.stdout.decode() + r.stderr.decode())

    def test_b_host_binding_and_altered_token(self):
        t = self.token("p5", "127.0.0.75")
        r = self.request(t["token"], "p6", "127.0.0.76", os.path.join(self.d, "p6"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("CN", r.stderr.decode())
        r = self.request(t["token"], "p5", "127.0.0.76", os.path.join(self.d, "p5x"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("127.0.0.76", r.stderr.decode())
        bad = ("x" if t["token"][0] != "x" else "y") + t["token"][1:]
        r = self.request(bad, "p5", "127.0.0.75", os.path.join(self.d, "p5y"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown token", r.stderr.decode())
        # None of that spent the token.
        self.request(t["token"], "p5", "127.0.0.75", os.path.join(self.d, "p5"), check_rc=0)

    def test_c_raw_refusals_sign_nothing(self):
        t = self.token("p7", "127.0.0.77")["token"]
        good = make_csr("system:etcd-peer:p7", "system:etcd-peers", ["p7"], ["127.0.0.77"])
        n0 = self.issued_count()
        cases = [
            ("no token", csr_body("a1", good), None, "application/json", 401),
            ("wrong token", csr_body("a2", good), "cprt_" + "A" * 43, "application/json", 401),
            ("garbage", "{{{ not json", t, "application/json", 400),
            ("not a CSR", csr_body("a3", b"hello"), t, "application/json", 400),
            ("huge", "[" * 70000, t, "application/json", 413),
            ("wrong type", csr_body("a4", good), t, "text/plain", 415),
            ("other host", csr_body("a5", make_csr("system:etcd-peer:p8", "system:etcd-peers", ["p8"])),
             t, "application/json", 403),
            ("extra SAN", csr_body("a6", make_csr("system:etcd-peer:p7", "system:etcd-peers",
                                                  ["p7", "api.example.com"])), t, "application/json", 403),
            ("wildcard", csr_body("a7", make_csr("system:etcd-peer:p7", "system:etcd-peers",
                                                 ["p7", "*.example.com"])), t, "application/json", 403),
            ("CA:TRUE", csr_body("a8", make_csr("system:etcd-peer:p7", "system:etcd-peers", ["p7"],
                                                ca=True)), t, "application/json", 403),
            ("codeSigning", csr_body("a9", make_csr("system:etcd-peer:p7", "system:etcd-peers", ["p7"],
                                                    eku=[ExtendedKeyUsageOID.CODE_SIGNING])),
             t, "application/json", 403),
            ("code signing usage", csr_body("a10", good, usages=["code signing"]), t, "application/json", 403),
            ("too long", csr_body("a11", good, expirationSeconds=10 * 365 * 86400), t,
             "application/json", 403),
            ("bad signature", csr_body("a12", tamper(good)), t, "application/json", 403),
            ("server profile CN", csr_body("a13", make_csr("system:etcd-server:p7", "system:etcd-servers",
                                                           ["p7"])), t, "application/json", 403),
        ]
        for what, body, tok, ctype, want in cases:
            status, data = self.post(body, tok, ctype)
            self.assertEqual(status, want, "%s: %s" % (what, data[:300]))
            self.assertEqual(self.issued_count(), n0, what)
        # Malformed TLS: garbage instead of a ClientHello, and a plain HTTP request.
        for junk in (b"\x16\x03\x01\x00\x05hello" + os.urandom(64), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"):
            s = socket.create_connection((SIGNER_IP, self.port), 3)
            s.sendall(junk)
            s.settimeout(3)
            try:
                s.recv(100)
            except OSError:
                pass
            s.close()
        # Still alive, and the token still good: nothing above spent it.
        status, data = self.post(csr_body("a-ok", good), t)
        self.assertEqual(status, 201, data[:300])
        self.assertEqual(self.issued_count(), n0 + 1)
        cert = base64.b64decode(json.loads(data)["status"]["certificate"])
        self.assertIn(b"BEGIN CERTIFICATE", cert)
        log = etcdlab.read(self.log, "r")
        for reason in ("no bearer token", "unknown token", "not a JSON object", "HTTP 413",
                       "content type", "wildcard", "CA:TRUE requested", "codeSigning", "code signing",
                       "longer than the bound", "signature does not verify", "not in the allow-list"):
            self.assertIn(reason, log)

    def test_d_concurrent_requests_one_token(self):
        t = self.token("p9", "127.0.0.79")["token"]
        bodies = [csr_body("con-%d" % i, make_csr("system:etcd-peer:p9", "system:etcd-peers", ["p9"]))
                  for i in range(6)]
        results = []
        barrier = threading.Barrier(len(bodies))

        def go(b):
            barrier.wait()
            results.append(self.post(b, t)[0])

        threads = [threading.Thread(target=go, args=(b,)) for b in bodies]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(sorted(results), [201] + [403] * 5, results)

    def test_e_new_member_runs_etcd_on_signed_certificates(self):
        ip = "127.0.0.72"
        out = os.path.join(self.d, "s2")
        for profile in ("peer", "server"):
            t = self.token("s2", ip, profile)
            self.request(t["token"], "s2", ip, out, profile=profile, check_rc=0)
        m = self.token("s2", ip, "metrics")
        self.request(m["token"], "s2", ip, out, profile="metrics", check_rc=0)
        self.assertEqual(verify(os.path.join(self.pki, "metric-ca.crt"), os.path.join(out, "metric.crt")).returncode, 0)
        self.assertTrue(os.path.isfile(os.path.join(out, "metric-ca.crt")))
        cport = free_port([ip], span=2)
        e = spawn([etcdlab.ETCD, "--name", "s2", "--data-dir", os.path.join(self.d, "data-s2"),
                   "--listen-client-urls", "https://%s:%d" % (ip, cport),
                   "--advertise-client-urls", "https://%s:%d" % (ip, cport),
                   "--listen-peer-urls", "https://%s:%d" % (ip, cport + 1),
                   "--initial-advertise-peer-urls", "https://%s:%d" % (ip, cport + 1),
                   "--initial-cluster", "s2=https://%s:%d" % (ip, cport + 1),
                   "--cert-file", os.path.join(out, "server.crt"), "--key-file", os.path.join(out, "server.key"),
                   "--trusted-ca-file", os.path.join(out, "ca.crt"), "--client-cert-auth",
                   "--peer-cert-file", os.path.join(out, "peer.crt"), "--peer-key-file", os.path.join(out, "peer.key"),
                   "--peer-trusted-ca-file", os.path.join(out, "ca.crt"), "--peer-client-cert-auth"],
                  os.path.join(self.d, "etcd-s2.log"))
        try:
            ok = False
            for _ in range(100):
                r = subprocess.run([etcdlab.ETCDCTL, "--endpoints", "https://%s:%d" % (ip, cport),
                                    "--cacert", os.path.join(self.pki, "ca.crt"),
                                    "--cert", os.path.join(self.pki, "admin.crt"),
                                    "--key", os.path.join(self.pki, "admin.key"), "--dial-timeout", "1s",
                                    "put", "/signed", "yes"], capture_output=True, text=True,
                                   env={**os.environ, "ETCDCTL_API": "3"})
                if r.returncode == 0:
                    ok = True
                    break
                time.sleep(0.2)
            self.assertTrue(ok, etcdlab.read(os.path.join(self.d, "etcd-s2.log"), "r")[-2000:])
        finally:
            stop_proc(e)

    def test_f_kubeconfig_and_second_signer(self):
        kc = os.path.join(self.d, "recovery.kubeconfig")
        t = self.token("p10", "127.0.0.80", "server", extra=("--kubeconfig", kc))
        self.assertEqual(stat.S_IMODE(os.stat(kc).st_mode), 0o600)
        self.assertIn(t["token"], etcdlab.read(kc, "r"))
        out = os.path.join(self.d, "p10")
        r = self.cpr().run("certs", "request", "--kubeconfig", kc, "--profile", "server", "--name", "p10",
                           "--ip", "127.0.0.80", "--dir", out)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertTrue(os.path.isfile(os.path.join(out, "server.crt")))
        # A second signer on the same state is refused; the first keeps serving.
        port2 = free_port([SIGNER_IP])
        r = self.cpr().run("signer", "serve", "--pki", self.pki, "--listen", "%s:%d" % (SIGNER_IP, port2),
                           "--state", self.state, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already serves", r.stderr.decode())
        self.assertIsNone(self.proc.poll())

    def test_z_stop_revokes_and_nothing_secret_logged(self):
        unspent = self.token("p11", "127.0.0.81")["token"]
        r = self.cpr().run("signer", "stop", "--state", self.state)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("stopped", r.stdout.decode())
        self.proc.wait(10)
        self.assertEqual(self.proc.returncode, 0)
        tokens = json.loads(etcdlab.read(os.path.join(self.state, "tokens.json")))["tokens"]
        self.assertTrue(all(t["state"] in ("spent", "revoked") for t in tokens), tokens)
        self.assertEqual(self.request(unspent, "p11", "127.0.0.81", os.path.join(self.d, "p11")).returncode, 1)
        again = self.cpr().run("signer", "stop", "--state", self.state)
        self.assertIn("no signer running", again.stdout.decode())
        logs = etcdlab.read(self.log, "r") + etcdlab.read(os.path.join(self.state, "audit.log"), "r")
        state_files = "".join(etcdlab.read(os.path.join(self.state, f)).decode(errors="replace")
                              for f in os.listdir(self.state) if os.path.isfile(os.path.join(self.state, f)))
        self.assertGreaterEqual(len(Signer.tokens), 5)
        for tok in Signer.tokens:
            self.assertNotIn(tok, logs)
            self.assertNotIn(tok[5:25], logs)
            self.assertNotIn(tok, state_files)
        self.assertNotIn("PRIVATE KEY", logs)
        self.assertIn("stopped: SIGTERM", logs)


class SignerFlags(etcdlab.TestCase):
    def test_ttl_listen_and_sources(self):
        d = tempdir("cpr-signer-flags-")
        try:
            cpr = self.cpr()
            cpr.ok("pki", "init", "--dir", os.path.join(d, "pki"), "--hosts", "t1=127.0.0.73")
            for listen in ("0.0.0.0:9943", "[::]:9943", "127.0.0.73", "127.0.0.73:99999"):
                r = cpr.run("signer", "serve", "--pki", os.path.join(d, "pki"), "--listen", listen,
                            "--state", os.path.join(d, "st"))
                self.assertEqual(r.returncode, 2, listen)
            self.assertEqual(cpr.run("signer", "serve", "--pki", os.path.join(d, "pki"),
                                     "--state", os.path.join(d, "st")).returncode, 2)
            self.assertEqual(cpr.run("signer", "serve", "--listen", "127.0.0.73:1234",
                                     "--state", os.path.join(d, "st")).returncode, 2)
            # No signer: no token.
            r = cpr.run("signer", "token", "x1", "--ip", "127.0.0.90", "--state", os.path.join(d, "st"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("no signer is running", r.stderr.decode())
            # --ttl: it ends by itself and revokes its tokens.
            port = free_port(["127.0.0.73"])
            t0 = time.time()
            r = cpr.run("signer", "serve", "--pki", os.path.join(d, "pki"), "--listen",
                        "127.0.0.73:%d" % port, "--state", os.path.join(d, "st"), "--ttl", "2s", timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertLess(time.time() - t0, 10)
            self.assertIn("TTL of 2s reached", r.stderr.decode())
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, "st")).st_mode), 0o700)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    etcdlab.main()
