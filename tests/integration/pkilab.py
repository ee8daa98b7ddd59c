"""Helpers for the certificate and signer integration tests (test_pki*,
test_certs*, test_signer*): openssl as an independent oracle, a TLS etcd
cluster on `cpr pki init` certificates, and processes stopped by PID.

Only 127.0.0.0/8 addresses are used; ports are bind-probed on the address
they will be used on.
"""
import base64
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import etcdlab
from etcdlab import ETCD, ETCDCTL

sys.path.insert(0, os.path.join(etcdlab.REPO, "tools", "k8s"))
import make_k8s_values as k8s  # noqa: E402

_procs = []  # Popen objects still running, stopped at exit by the tests' tearDown / atexit


def stop_proc(p, timeout=15):
    """SIGTERM, then SIGKILL, by this Popen's PID only."""
    if p is None:
        return
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _procs:
        _procs.remove(p)


def stop_all():
    for p in list(_procs):
        stop_proc(p)


def spawn(cmd, log_path, **kw):
    log = open(log_path, "ab")
    p = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, **kw)
    log.close()
    _procs.append(p)
    return p


def port_free(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(hosts, span=1):
    """A port p such that p..p+span-1 are free on every host in `hosts`
    (range 27000-31999, like etcdlab)."""
    rnd = random.Random(os.getpid() ^ int(time.time() * 1e6))
    for _ in range(500):
        p = rnd.randrange(27000, 32000 - span)
        if all(port_free(h, p + i) for h in hosts for i in range(span)):
            return p
    raise RuntimeError("no free port on %s" % (hosts,))


def wait_port(host, port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((host, port), 0.3).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def sh(*cmd, check=True, timeout=60, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(map(str, cmd)), r.returncode,
                                                     r.stderr or r.stdout))
    return r


# ----------------------------------------------------------------------------
# openssl: certificates made without CPR
# ----------------------------------------------------------------------------
def ossl_ca(d, name, cn, days=365):
    """A self-signed EC CA made by `openssl req -x509`; returns (crt, key)."""
    crt, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", crt, "-days", days, "-subj", "/CN=" + cn)
    return crt, key


def ossl_leaf(d, name, cn, ca_crt, ca_key, start=None, end=None, days=None, san=None, is_ca=False):
    """A leaf signed by ca with `openssl ca` (which can set any validity:
    start/end as YYYYMMDDHHMMSSZ); returns (crt, key). is_ca: an
    intermediate CA instead (basicConstraints CA:TRUE)."""
    work = os.path.join(d, ".ossl-ca-" + name)
    os.makedirs(os.path.join(work, "new"), exist_ok=True)
    open(os.path.join(work, "index.txt"), "w").close()
    with open(os.path.join(work, "serial"), "w") as f:
        f.write("%032x\n" % random.getrandbits(120))
    cfg = os.path.join(work, "ca.cnf")
    with open(cfg, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\nnew_certs_dir=%s/new\n"
                "serial=%s/serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n"
                "unique_subject=no\ndefault_days=30\n[p]\ncommonName=supplied\n"
                "organizationName=optional\n" % (work, work, work))
    crt, key, csr = (os.path.join(d, name + e) for e in (".crt", ".key", ".csr"))
    req = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + cn]
    if san:
        req += ["-addext", "subjectAltName=" + san]
    if is_ca:
        req += ["-addext", "basicConstraints=critical,CA:TRUE"]
    sh(*req)
    cmd = ["openssl", "ca", "-batch", "-notext", "-config", cfg, "-cert", ca_crt, "-keyfile", ca_key,
           "-in", csr, "-out", crt]
    if start:
        cmd += ["-startdate", start]
    if end:
        cmd += ["-enddate", end]
    if days:
        cmd += ["-days", days]
    sh(*cmd)
    os.unlink(csr)
    shutil.rmtree(work)
    return crt, key


def utc_stamp(offset_seconds):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + offset_seconds))


def subject_and_sans(crt):
    """openssl's view of a certificate's subject and SANs (for before/after comparisons)."""
    r = sh("openssl", "x509", "-noout", "-subject", "-ext", "subjectAltName,extendedKeyUsage", "-in", crt)
    return r.stdout


def verify(ca, crt, *extra):
    return sh("openssl", "verify", *extra, "-CAfile", ca, crt, check=False)


# ----------------------------------------------------------------------------
# CA Secrets in a backup, as kube-apiserver stores them
# ----------------------------------------------------------------------------
def tls_secret(namespace, name, crt, key):
    """A kubernetes.io/tls Secret holding the files crt and key (tls.crt,
    tls.key), in the API server's exact `k8s\\0` protobuf form."""
    return k8s.encode_object({
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace,
                     "uid": "6c1e7b62-0c55-4c3a-9f52-5e2f0a1b2c3d",
                     "creationTimestamp": "2020-03-01T12:00:00Z"},
        "data": {"tls.crt": etcdlab.read(crt), "tls.key": etcdlab.read(key)},
        "type": "kubernetes.io/tls"})


def aescbc(key, keyname, plain):
    """`plain` encrypted at rest as kube-apiserver's aescbc provider writes it."""
    iv = os.urandom(16)
    p = padding.PKCS7(128).padder()
    data = p.update(plain) + p.finalize()
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return b"k8s:enc:aescbc:v1:%s:" % keyname.encode() + iv + e.update(data) + e.finalize()


def encryption_config(path, keys):
    """An EncryptionConfiguration for secrets at `path`: aescbc with `keys`
    ([(name, 32 bytes)], in order), then identity."""
    with open(path, "w") as f:
        f.write("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
                "resources:\n- resources:\n  - secrets\n  providers:\n  - aescbc:\n      keys:\n")
        for name, key in keys:
            f.write("      - name: %s\n        secret: %s\n" % (name, base64.b64encode(key).decode()))
        f.write("  - identity: {}\n")
    return path


# ----------------------------------------------------------------------------
# etcd with TLS everywhere on `cpr pki init` certificates
# ----------------------------------------------------------------------------
class TlsCluster:
    """N etcd members, member i on 127.0.0.<base+i>, mutual TLS on every
    client and peer connection (--client-cert-auth, --peer-client-cert-auth)
    with the layout of `cpr pki init --dir pki`."""

    def __init__(self, pki, hosts, workdir, token="cpr-tls"):
        self.pki, self.hosts, self.workdir, self.token = pki, dict(hosts), workdir, token
        ips = list(self.hosts.values())
        base = free_port(ips, span=2)
        self.cport, self.pport = base, base + 1
        self.procs = {}

    def endpoints(self):
        return ",".join("https://%s:%d" % (ip, self.cport) for ip in self.hosts.values())

    def start(self, names=None, state="new"):
        cluster = ",".join("%s=https://%s:%d" % (n, ip, self.pport) for n, ip in self.hosts.items())
        for n in names or self.hosts:
            ip = self.hosts[n]
            d = os.path.join(self.pki, n)
            cmd = [ETCD, "--name", n, "--data-dir", os.path.join(self.workdir, "data-" + n),
                   "--listen-client-urls", "https://%s:%d" % (ip, self.cport),
                   "--advertise-client-urls", "https://%s:%d" % (ip, self.cport),
                   "--listen-peer-urls", "https://%s:%d" % (ip, self.pport),
                   "--initial-advertise-peer-urls", "https://%s:%d" % (ip, self.pport),
                   "--initial-cluster", cluster, "--initial-cluster-token", self.token,
                   "--initial-cluster-state", state,
                   "--cert-file", os.path.join(d, "server.crt"), "--key-file", os.path.join(d, "server.key"),
                   "--trusted-ca-file", os.path.join(self.pki, "ca.crt"), "--client-cert-auth",
                   "--peer-cert-file", os.path.join(d, "peer.crt"), "--peer-key-file", os.path.join(d, "peer.key"),
                   "--peer-trusted-ca-file", os.path.join(self.pki, "ca.crt"), "--peer-client-cert-auth",
                   "--logger", "zap", "--log-level", "warn"]
            self.procs[n] = spawn(cmd, os.path.join(self.workdir, "etcd-%s.log" % n))

    def stop(self):
        for p in self.procs.values():
            stop_proc(p)
        self.procs = {}

    def ctl(self, *args, cert=None, key=None, cacert=None, endpoints=None, check=True, timeout=30):
        cmd = [ETCDCTL, "--endpoints", endpoints or self.endpoints(),
               "--cacert", cacert or os.path.join(self.pki, "ca.crt"),
               "--cert", cert or os.path.join(self.pki, "admin.crt"),
               "--key", key or os.path.join(self.pki, "admin.key"),
               "--dial-timeout", "2s", "--command-timeout", "5s"] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "ETCDCTL_API": "3"})
        if check and r.returncode != 0:
            raise AssertionError("etcdctl %s: %s" % (" ".join(map(str, args)), r.stderr))
        return r

    def wait_healthy(self, timeout=30):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = self.ctl("endpoint", "health", check=False)
            if last.returncode == 0:
                return True
            if any(p.poll() is not None for p in self.procs.values()):
                break
            time.sleep(0.2)
        return False

    def logs(self):
        out = ""
        for n in self.hosts:
            try:
                with open(os.path.join(self.workdir, "etcd-%s.log" % n)) as f:
                    out += "--- %s\n%s\n" % (n, f.read()[-2000:])
            except OSError:
                pass
        return out


def tempdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
