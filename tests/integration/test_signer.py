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
import select
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
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

SIGNER_IP = "127.0.0.71"
CSR_PATH = "/apis/certificates.k8s.io/v1beta1/certificatesigningrequests"


def make_csr(cn, org, dns=(), ips=(), ca=False, eku=None, key=None):
    import ipaddress
    key = key or ec.generate_private_key(ec.SECP256R1())
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
        # CPR_SIGNER_TOKEN=T cpr certs request ...: never the token among the arguments (ps).
        cmd = r["command"].split()
        self.assertEqual(cmd[0], "CPR_SIGNER_TOKEN=" + r["token"])
        self.assertEqual(cmd[1:4], ["cpr", "certs", "request"])
        self.assertNotIn(r["token"], " ".join(cmd[1:]))
        self.assertNotIn("--token", cmd)
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
            ("RSA e=3", csr_body("a14", make_csr("system:etcd-peer:p7", "system:etcd-peers", ["p7"],
                                                 key=rsa.generate_private_key(3, 2048))),
             t, "application/json", 403),
            ("2000 SANs", csr_body("a15", make_csr("system:etcd-peer:p7", "system:etcd-peers", ["p7"] * 2000)),
             t, "application/json", 403),
            ("duplicate SAN", csr_body("a16", make_csr("system:etcd-peer:p7", "system:etcd-peers", ["p7", "P7"])),
             t, "application/json", 403),
            ("1e300 lifetime", csr_body("a17", good, expirationSeconds=1e300), t, "application/json", 400),
            ("2^70 lifetime", csr_body("a18", good, expirationSeconds=2 ** 70), t, "application/json", 400),
            ("fractional lifetime", csr_body("a19", good, expirationSeconds=3600.5), t, "application/json", 400),
            ("-1e300 lifetime", csr_body("a20", good, expirationSeconds=-1e300), t, "application/json", 400),
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
                       "longer than the bound", "signature does not verify", "not in the allow-list",
                       "RSA public exponent 3 not accepted", "2000 SANs requested; at most 64",
                       "duplicate SAN DNS:P7", "expirationSeconds 1e+300 is not a whole number"):
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
            # Wildcards in every spelling (parsed, not compared as text), and bad forms.
            for listen in ("0.0.0.0:9943", "[::]:9943", "0:9943", "0x0:9943", "[::0]:9943",
                           "[::ffff:0.0.0.0]:9943", ":9943", "[]:9943", "00:9943", "0.0:9943",
                           "[::0.0.0.0]:9943", "[0:0:0:0:0:0:0:0]:9943", "127.1:9943", "2130706433:9943",
                           "127.0.0.73", "127.0.0.73:99999"):
                r = cpr.run("signer", "serve", "--pki", os.path.join(d, "pki"), "--listen", listen,
                            "--state", os.path.join(d, "st"), timeout=20)
                self.assertEqual(r.returncode, 2, "%s: %s" % (listen, r.stderr.decode()))
                self.assertIn("--listen", r.stderr.decode())
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


SLOW_IP = "127.0.0.91"


def src(i):
    """A source address on 127.0.0.0/8 for client number i (connection caps count by address)."""
    return "127.0.%d.%d" % (92 + i // 250, 1 + i % 250)


class SlowClients(etcdlab.TestCase):
    """Idle and slowloris connections, a per-address connection cap, and a flood
    of unauthenticated requests against `cpr signer serve`: a normal request
    still answers within a second while the attackers are connected, the
    attackers are cut off by the deadlines, and the audit log stays small.
    The tests share one signer and its refusal rate limit (a burst of 20, then
    one line per 2s): they run in order, each asserting only lines it can
    count on."""

    @classmethod
    def setUpClass(cls):
        cls.d = tempdir("cpr-signer-slow-")
        cls.pki = os.path.join(cls.d, "pki")
        cls.state = os.path.join(cls.d, "state")
        etcdlab.cpr().ok("pki", "init", "--dir", cls.pki, "--hosts", "s1=" + SLOW_IP)
        cls.port = free_port([SLOW_IP])
        cls.log = os.path.join(cls.d, "signer.log")
        cls.proc = spawn([etcdlab.CPR_PATH, "signer", "serve", "--pki", cls.pki, "--listen",
                          "%s:%d" % (SLOW_IP, cls.port), "--state", cls.state], cls.log)
        if not wait_port(SLOW_IP, cls.port, 15):
            stop_proc(cls.proc)
            raise AssertionError("signer did not listen: " + etcdlab.read(cls.log, "r"))
        cls.ctx = ssl.create_default_context(cafile=os.path.join(cls.state, "ca.crt"))

    @classmethod
    def tearDownClass(cls):
        stop_proc(cls.proc)
        pkilab.stop_all()
        shutil.rmtree(cls.d, ignore_errors=True)

    def tcp(self, source):
        return socket.create_connection((SLOW_IP, self.port), 5, source_address=(source, 0))

    def readyz(self, source):
        """GET /readyz from `source`; (status, seconds)."""
        t0 = time.monotonic()
        conn = http.client.HTTPSConnection(SLOW_IP, self.port, context=self.ctx, timeout=5,
                                           source_address=(source, 0))
        try:
            conn.request("GET", "/readyz")
            resp = conn.getresponse()
            resp.read()
            return resp.status, time.monotonic() - t0
        finally:
            conn.close()

    answered = {}  # TLS socket -> the first byte of what the server sent on it (b"" if it closed)

    def still_open(self, sock):
        """True while the server has sent no response on `sock` and not closed it
        (TLS records without application data, like session tickets, do not count)."""
        if not isinstance(sock, ssl.SSLSocket):
            return not select.select([sock], [], [], 0)[0]
        if sock in self.answered:
            return False
        sock.setblocking(False)
        try:
            self.answered[sock] = sock.recv(1)  # b"": closed; a byte: a response
            return False
        except ssl.SSLWantReadError:
            return True
        except OSError:
            self.answered[sock] = b""
            return False
        finally:
            sock.setblocking(True)

    def audit_lines(self):
        return etcdlab.read(os.path.join(self.state, "audit.log"), "r").count("\n")

    def test_b_idle_and_slowloris_do_not_starve_others(self):
        idle, slow = [], []
        stop = threading.Event()
        try:
            # 8 TLS connections that send a request head one header line at a time
            # (first: their deadline comes first, and their refusals fit in the log's burst).
            for i in range(8):
                s = self.ctx.wrap_socket(self.tcp(src(10 + i % 2)), server_hostname=SLOW_IP)
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
                slow.append(s)
            # 50 idle TCP connections (no TLS), from 5 addresses.
            for i in range(50):
                idle.append(self.tcp(src(i % 5)))
            t_attack = time.monotonic()

            def trickle():
                n = 0
                while not stop.wait(1.0):
                    for s in slow:
                        try:
                            s.sendall(b"X-Slow-%d: 1\r\n" % n)
                        except OSError:
                            pass
                    n += 1

            sender = threading.Thread(target=trickle, daemon=True)
            sender.start()
            time.sleep(1.5)  # the attackers' lines keep coming meanwhile
            # Normal requests from another address answer, each within a second,
            # while every attacker is still connected.
            worst = 0
            for i in range(5):
                status, took = self.readyz(src(20))
                self.assertEqual(status, 200)
                self.assertLess(took, 1.0, "GET /readyz took %.2fs with 58 slow clients open" % took)
                worst = max(worst, took)
            sys.stderr.write("(GET /readyz with 50 idle + 8 slowloris open: at most %.3fs) " % worst)
            self.assertLess(time.monotonic() - t_attack, 8, "too slow to show the attackers were still on")
            self.assertTrue(all(self.still_open(s) for s in idle), "an idle connection was closed early")
            self.assertTrue(all(self.still_open(s) for s in slow), "a slow connection was closed early")
            # A real client too: a CSR through `cpr certs request`, token in the environment.
            tok = self.cpr().json("signer", "token", "s1", "--ip", SLOW_IP, "--state", self.state)
            t0 = time.monotonic()
            r = self.cpr().run("certs", "request", "--signer", "https://%s:%d" % (SLOW_IP, self.port),
                               "--profile", "peer", "--name", "s1", "--ip", SLOW_IP, "--dir",
                               os.path.join(self.d, "s1"), "--cacert", os.path.join(self.state, "ca.crt"),
                               extra_env={"CPR_SIGNER_TOKEN": tok["token"]})
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertLess(time.monotonic() - t0, 5)
            # The deadlines end them: the handshake (10s) for the idle ones, the
            # whole head (10s, however often a line comes) for the slow ones.
            end = t_attack + 25
            while time.monotonic() < end and any(self.still_open(s) for s in idle + slow):
                time.sleep(0.5)
            self.assertFalse(any(self.still_open(s) for s in idle), "idle connections outlived the deadline")
            self.assertFalse(any(self.still_open(s) for s in slow), "slowloris outlived the head deadline")
            stop.set()
            sender.join()
            for s in slow:
                s.settimeout(5)
                self.assertTrue((self.answered[s] + s.recv(100)).startswith(b"HTTP/1.1 408 "))
        finally:
            stop.set()
            for s in idle + slow:
                s.close()
        log = etcdlab.read(self.log, "r")
        self.assertRegex(log, r'refused from=127\.0\.92\.1[12]:\d+ reason="HTTP 408 before routing: '
                              r'request head not complete within 10000ms')
        self.assertRegex(log, r'refused from=127\.0\.92\.[1-5]:\d+ reason="TLS handshake not done in time')

    def test_a_connections_per_address_capped(self):
        socks = [self.tcp(src(30)) for _ in range(40)]
        try:
            time.sleep(1.0)
            open_now = [s for s in socks if self.still_open(s)]
            # 32 per address; the rest closed at once, before TLS.
            self.assertEqual(len(open_now), 32)
            status, took = self.readyz(src(31))
            self.assertEqual(status, 200)
            self.assertLess(took, 1.0)
        finally:
            for s in socks:
                s.close()
        self.assertIn("connections open from %s (limit per address)" % src(30), etcdlab.read(self.log, "r"))

    def test_c_unauthenticated_flood_barely_grows_the_log(self):
        time.sleep(2)  # earlier tests' refusals leave the rate limit partly spent
        before = self.audit_lines()
        statuses = set()
        t0 = time.monotonic()
        i = 0
        # At least 150 requests, for at least 5s (so the rate limit lets a line through).
        while i < 150 or time.monotonic() - t0 < 5:
            i += 1
            conn = http.client.HTTPSConnection(SLOW_IP, self.port, context=self.ctx, timeout=5,
                                               source_address=(src(40), 0))
            conn.request("POST", CSR_PATH, body=csr_body("x%d" % i, b"junk"),
                         headers={"Content-Type": "application/json",
                                  "Authorization": "Bearer cprt_" + "A" * 43})
            resp = conn.getresponse()
            statuses.add(resp.status)
            resp.read()
            conn.close()
        took = time.monotonic() - t0
        self.assertEqual(statuses, {401})
        grown = self.audit_lines() - before
        self.assertGreater(grown, 0)
        # A burst of 20, then one line per 2s.
        self.assertLessEqual(grown, 20 + took / 2 + 2, "%d unauthenticated requests wrote %d lines" % (i, grown))
        log = etcdlab.read(os.path.join(self.state, "audit.log"), "r")
        self.assertIn("refused from=%s:" % src(40), log)
        self.assertIn("unknown token", log)
        self.assertIn("not logged: rate limit", log)
        # The body was never parsed: no JSON/CSR reason for these requests.
        self.assertNotIn("spec.request", log)


if __name__ == "__main__":
    etcdlab.main()
