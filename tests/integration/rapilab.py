"""Helpers for the recovery API tests (test_recovery_api.py) and the fixture
capture (tests/fixtures/recovery-api/capture.py): a `cpr recovery-api serve`
on a loopback address with a fresh `cpr pki init`, raw HTTPS calls as any
identity (admin, a node's client certificate, a bootstrap token), CSRs made
with python3-cryptography (not CPR), kubectl runs with a private HOME.

Processes are stopped by PID; ports are bind-probed on their address.
"""
import base64
import http.client
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import time

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
SERVING_SIGNER = "kubernetes.io/kubelet-serving"
CLIENT_USAGES = ["digital signature", "key encipherment", "client auth"]
SERVING_USAGES = ["digital signature", "key encipherment", "server auth"]
K132 = "/usr/bin/kubectl"
K120 = os.environ.get("CPR_KUBECTL120", "/opt/cpr/kubectl-1.20/usr/bin/kubectl")
BASE = "/apis/certificates.k8s.io/%s/certificatesigningrequests"


def free_ip(prefix="127.0.97."):
    rnd = random.Random(os.getpid() ^ int(time.time() * 1e6))
    for _ in range(200):
        ip = prefix + str(rnd.randrange(20, 250))
        s = socket.socket()
        try:
            s.bind((ip, 0))
            return ip
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no loopback address")


def free_port(ip):
    rnd = random.Random(os.getpid() ^ int(time.time() * 1e6))
    for _ in range(500):
        p = rnd.randrange(27000, 32000)
        s = socket.socket()
        try:
            s.bind((ip, p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port on " + ip)


def wait_until(pred, timeout, what):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.05)


def write(path, data, mode="wb"):
    with open(path, mode) as f:
        f.write(data)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def make_key(rsa_bits=None):
    return rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())


def make_csr(cn, org, dns=(), ips=(), key=None):
    key = key or make_key()
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr_manifest(name, pem, signer=CLIENT_SIGNER, usages=CLIENT_USAGES, version="v1"):
    spec = {"request": base64.b64encode(pem).decode(), "usages": list(usages)}
    if signer:
        spec["signerName"] = signer
    return {"apiVersion": "certificates.k8s.io/" + version, "kind": "CertificateSigningRequest",
            "metadata": {"name": name}, "spec": spec}


def sh(*cmd, check=True, timeout=60, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if r.returncode < 0 or r.returncode >= 128:
        raise AssertionError("%s crashed (rc %d): %s" % (cmd[:3], r.returncode, r.stderr))
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, cmd)), r.returncode,
                                                     r.stderr or r.stdout))
    return r


class Lab:
    """A pki dir, a running recovery API with `nodes` ({name: ip}), an admin kubeconfig."""

    def __init__(self, cpr, d, nodes):
        self.cpr, self.d, self.nodes = cpr, d, nodes
        self.ip = free_ip()
        self.pki = os.path.join(d, "pki")
        self.state = os.path.join(d, "state")
        sh(cpr, "pki", "init", "--dir", self.pki, "--hosts", "m1=" + self.ip)
        self.kube_ca = os.path.join(self.pki, "kube-ca.crt")
        self.port = free_port(self.ip)
        self.url = "https://%s:%d" % (self.ip, self.port)
        self.proc = None
        self.serve_args = []
        if nodes:
            self.start()
        self.admin_kc = self.admin_kubeconfig()
        with open(self.admin_kc) as f:
            doc = yaml.safe_load(f)
        self.admin_cert = os.path.join(d, "admin.crt")
        self.admin_key = os.path.join(d, "admin.key")
        write(self.admin_cert, base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]))
        write(self.admin_key, base64.b64decode(doc["users"][0]["user"]["client-key-data"]))
        os.chmod(self.admin_key, 0o600)
        self.home = os.path.join(d, "home")
        os.makedirs(self.home, exist_ok=True)

    # -- the server ------------------------------------------------------
    def start(self):
        cmd = [self.cpr, "recovery-api", "serve", "--pki", self.pki, "--listen",
               "%s:%d" % (self.ip, self.port), "--state", self.state]
        for n, ip in self.nodes.items():
            cmd += ["--node", "%s=%s" % (n, ip)]
        cmd += self.serve_args
        with open(os.path.join(self.d, "serve.log"), "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("recovery-api serve exited: " + self.server_log())
            try:
                socket.create_connection((self.ip, self.port), 0.3).close()
                return True
            except OSError:
                return False
        wait_until(up, 20, "the recovery API to listen")

    def server_log(self):
        with open(os.path.join(self.d, "serve.log"), errors="replace") as f:
            return f.read()[-4000:]

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        sh(self.cpr, "recovery-api", "stop", "--state", self.state)
        self.proc.wait(timeout=30)

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.d, ignore_errors=True)

    # -- credentials -----------------------------------------------------
    def admin_kubeconfig(self, server=None):
        out = os.path.join(self.d, "admin-%d.kubeconfig" % random.randrange(1 << 30))
        sh(self.cpr, "kubeconfig", "recover", "--pki", self.pki, "--server", server or self.url, "--out", out)
        return out

    def bootstrap_kubeconfig(self, node, ttl="1h"):
        out = os.path.join(self.d, "boot-%s-%d.kubeconfig" % (node, random.randrange(1 << 30)))
        sh(self.cpr, "kubeconfig", "recover", "--pki", self.pki, "--server", self.url, "--bootstrap",
           "--node", node, "--token-ttl", ttl, "--out", out)
        return out

    def bootstrap_token(self, node, ttl="1h"):
        with open(self.bootstrap_kubeconfig(node, ttl)) as f:
            return yaml.safe_load(f)["users"][0]["user"]["token"]

    def _signed(self, name, subj, ca, ext):
        key, csr, crt = (os.path.join(self.d, name + s) for s in (".key", ".csr", ".crt"))
        extf = os.path.join(self.d, name + ".ext")
        write(extf, ext, "w")
        sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-keyout", key, "-out", csr, "-subj", subj)
        sh("openssl", "x509", "-req", "-in", csr, "-CA", ca + ".crt", "-CAkey", ca + ".key",
           "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", extf)
        return crt, key

    def node_identity(self, node):
        """A client certificate of node `node` (kubelet client CA), made with openssl."""
        return self._signed("node-" + node, "/O=system:nodes/CN=system:node:" + node,
                            os.path.join(self.pki, "kubelet-client-ca"), "extendedKeyUsage=clientAuth\n")

    def user_identity(self, cn, org):
        return self._signed("user-" + cn, "/O=%s/CN=%s" % (org, cn), os.path.join(self.pki, "kube-ca"),
                            "extendedKeyUsage=clientAuth\n")

    def serving_cert_for(self, ip):
        return self._signed("proxy-" + ip, "/CN=proxy", os.path.join(self.pki, "kube-ca"),
                            "subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n" % ip)

    # -- raw HTTPS -------------------------------------------------------
    def call(self, method, path, body=None, cert=None, token=None, ctype="application/json", admin=False,
             accept="application/json"):
        ctx = ssl.create_default_context(cafile=self.kube_ca)
        if admin:
            cert = (self.admin_cert, self.admin_key)
        if cert:
            ctx.load_cert_chain(*cert)
        conn = http.client.HTTPSConnection(self.ip, self.port, context=ctx, timeout=30)
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = ctype
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
        if token:
            headers["Authorization"] = "Bearer " + token
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def post(self, obj, version="v1", **kw):
        return self.call("POST", BASE % version, obj, **kw)

    def get(self, name, version="v1"):
        st, obj = self.call("GET", (BASE % version) + "/" + name, admin=True)
        assert st == 200, (st, obj)
        return obj

    def condition(self, name):
        obj = self.get(name)
        types = [c["type"] for c in obj["status"].get("conditions", [])]
        s = "Denied" if "Denied" in types else "Approved" if "Approved" in types else "Pending"
        return s + (",Issued" if obj["status"].get("certificate") else "")

    # -- kubectl ---------------------------------------------------------
    def kubectl(self, *args, binary=K132, check=False, timeout=60, input=None):
        env = dict(os.environ, HOME=self.home, KUBECONFIG=self.admin_kc)
        r = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=timeout,
                           input=input)
        if r.returncode < 0:
            raise AssertionError("kubectl %s crashed" % (args,))
        if check and r.returncode != 0:
            raise AssertionError("kubectl %s: %s" % (" ".join(args), r.stderr))
        return r
