"""The recovery API (`cpr recovery-api serve`) driven by real clients:
kubectl 1.32 (/usr/bin/kubectl, when the machine has it; its approvals are
protobuf) and Debian's kubectl 1.20 (unpacked by scripts/setup.sh), `cpr
csr` and raw HTTPS. Checks: the five columns, -o yaml, describe, create -f,
approve, deny, delete, get -w seeing an approval, v1beta1; a kubelet-style
bootstrap (`cpr csr request`) approved by `cpr csr approve --policy nodes`
and a serving CSR of that node, both verified with openssl against the right
CA; the policy matrix (each stays Pending and a kubectl approve gets 403
with the reason); server-side rules (requestor from the caller, status
cleared on create, bad requests 400/422, conflicts 409, Approved/Denied
final); kubectl 1.32's captured protobuf PUT applied, garbage and truncated
protobuf 400; everything kept across a SIGKILL and a stop. The operator
override (`cpr csr approve --override`): an unknown node's CSR refused 403,
then issued; a rule it does not waive still refused; a non-master's override
refused. An existing cluster's kubelet CA (`--ca/--ca-key`, `--ca-from-snapshot`
with the csr-signer Secret, encrypted at rest, and its fallback): what it
issues verifies with openssl against that CA, and every bad source is refused
at start with one clear line.
"""
import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cryptography.hazmat.primitives import serialization  # noqa: E402

import etcdlab  # noqa: E402
import pkilab  # noqa: E402
import rapilab  # noqa: E402
from rapilab import (CLIENT_SIGNER, CLIENT_USAGES, K120, K132, SERVING_SIGNER, SERVING_USAGES,  # noqa: E402
                     csr_manifest, make_csr, make_key, sh, wait_until)

FIXTURE = os.path.join(etcdlab.FIXTURES, "recovery-api", "kubectl-1.32-approve-put.pb")
W1, W2 = "127.0.97.251", "127.0.97.252"
HAVE_K132 = os.access(K132, os.X_OK)


class RecoveryApi(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = rapilab.Lab(etcdlab.CPR_PATH, tempfile.mkdtemp(prefix="cpr-rapi-"), {"w1": W1, "w2": W2})

    @classmethod
    def tearDownClass(cls):
        cls.lab.close()

    def kubectl_new(self, *args, **kw):
        return self.lab.kubectl(*args, binary=K132 if HAVE_K132 else K120, **kw)

    def assertRefused(self, name, *reason_words):
        """A kubectl approve is Forbidden with the reason and the CSR stays Pending."""
        r = self.kubectl_new("certificate", "approve", name)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("(Forbidden)", r.stderr)
        for w in reason_words:
            self.assertIn(w, r.stderr)
        self.assertEqual(self.lab.condition(name), "Pending")

    # -----------------------------------------------------------------------
    def test_a_kubectl_views_create_deny_delete(self):
        lab = self.lab
        self.assertTrue(os.access(K120, os.X_OK), "kubectl 1.20 missing: run scripts/setup.sh")
        y = csr_manifest("view-me", make_csr("system:node:w2", "system:nodes"))
        r = self.kubectl_new("create", "-f", "-", input=json.dumps(y), check=True)
        self.assertIn("view-me created", r.stdout)
        for binary in filter(None, [K120, K132 if HAVE_K132 else None]):
            r = lab.kubectl("get", "csr", binary=binary, check=True)
            self.assertEqual(r.stdout.splitlines()[0].split(), ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "CONDITION"])
            row = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("view-me")][0]
            self.assertEqual(row[2:], [CLIENT_SIGNER, "cpr-recovery-admin", "Pending"])
            r = lab.kubectl("get", "certificatesigningrequests.v1beta1.certificates.k8s.io", "--no-headers",
                            binary=binary, check=True)
            self.assertIn("view-me", r.stdout)
            r = lab.kubectl("get", "csr", "view-me", "-o", "yaml", binary=binary, check=True)
            self.assertIn("signerName: " + CLIENT_SIGNER, r.stdout)
            self.assertIn("username: cpr-recovery-admin", r.stdout)
            r = lab.kubectl("describe", "csr", "view-me", binary=binary, check=True)
            self.assertIn("system:node:w2", r.stdout)
            r = lab.kubectl("get", "csr", "--sort-by=.spec.signerName", binary=binary, check=True)
            self.assertIn("view-me", r.stdout)
        # an admin-made node CSR is no bootstrap: approve refused, deny works and is final
        self.assertRefused("view-me", "CPR refuses to approve this request", "requestor cpr-recovery-admin")
        r = self.kubectl_new("certificate", "deny", "view-me", check=True)
        self.assertIn("denied", r.stdout)
        self.assertEqual(lab.condition("view-me"), "Denied")
        st, obj = lab.call("PUT", rapilab.BASE % "v1" + "/view-me/approval", admin=True, body=dict(
            lab.get("view-me"), status={"conditions": [{"type": "Approved", "status": "True"}]}))
        self.assertEqual(st, 422, obj)  # the Denied condition may not be removed
        r = lab.kubectl("delete", "csr", "view-me", binary=K120, check=True)
        self.assertIn("deleted", r.stdout)
        st, _ = lab.call("GET", rapilab.BASE % "v1" + "/view-me", admin=True)
        self.assertEqual(st, 404)

    def test_b_bootstrap_policy_approve_and_serving(self):
        lab = self.lab
        out = os.path.join(lab.d, "w1")
        boot = lab.bootstrap_kubeconfig("w1")
        req = subprocess.Popen([etcdlab.CPR_PATH, "csr", "request", "--kubeconfig", boot, "--node", "w1",
                                "--dir", out, "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        try:
            def pending():
                r = sh(etcdlab.CPR_PATH, "csr", "list", "--kubeconfig", lab.admin_kc, "-w", "json")
                return [i["metadata"]["name"] for i in json.loads(r.stdout)["items"]
                        if i["metadata"]["name"].startswith("node-csr-") and not i["status"]]
            name = wait_until(pending, 20, "the node's CSR")[0]
            r = sh(etcdlab.CPR_PATH, "csr", "approve", "--policy", "nodes", "--kubeconfig", lab.admin_kc)
            self.assertRegex(r.stdout, name + r"\s.*Approved,Issued")
            o, e = req.communicate(timeout=60)
            self.assertEqual(req.returncode, 0, e)
        finally:
            if req.poll() is None:
                req.kill()
                req.wait()
        crt, key = os.path.join(out, "kubelet-client.crt"), os.path.join(out, "kubelet-client.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.join(out, "kubelet.kubeconfig")).st_mode & 0o777, 0o600)
        sh("openssl", "verify", "-CAfile", os.path.join(lab.pki, "kubelet-client-ca.crt"), crt)
        self.assertIn("CN = system:node:w1", sh("openssl", "x509", "-noout", "-subject", "-in", crt).stdout)
        # the node, with its new certificate, asks for a serving certificate; kubectl approves it
        pem = make_csr("system:node:w1", "system:nodes", dns=["w1"], ips=[W1])
        st, obj = lab.post(csr_manifest("w1-serving", pem, SERVING_SIGNER, SERVING_USAGES), cert=(crt, key))
        self.assertEqual(st, 201, obj)
        self.assertEqual(obj["spec"]["username"], "system:node:w1")
        self.kubectl_new("certificate", "approve", "w1-serving", check=True)
        self.assertEqual(lab.condition("w1-serving"), "Approved,Issued")
        served = os.path.join(lab.d, "w1-serving.crt")
        rapilab.write(served, base64.b64decode(lab.get("w1-serving")["status"]["certificate"]))
        sh("openssl", "verify", "-CAfile", os.path.join(lab.pki, "kubelet-serving-ca.crt"), served)
        r = sh("openssl", "verify", "-CAfile", os.path.join(lab.pki, "kubelet-client-ca.crt"), served, check=False)
        self.assertNotEqual(r.returncode, 0)
        # the node kubeconfig works with kubectl 1.20 (a node may list)
        env = dict(os.environ, HOME=lab.home, KUBECONFIG=os.path.join(out, "kubelet.kubeconfig"))
        r = subprocess.run([K120, "get", "csr", "w1-serving", "--no-headers"], env=env, capture_output=True,
                           text=True, timeout=60)
        self.assertIn("Approved,Issued", r.stdout, r.stderr)

    def test_c_policy_matrix(self):
        lab = self.lab
        t1, t2 = lab.bootstrap_token("w1"), lab.bootstrap_token("w2")
        node = lab.node_identity("w1")
        reused = make_key()
        lab.post(csr_manifest("m-first-key", make_csr("system:node:w2", "system:nodes", key=reused)), token=t2)
        cases = [  # name, manifest, identity, words of the reason
            ("m-foreign-cn", csr_manifest("m-foreign-cn", make_csr("system:node:evil", "system:nodes")), t1,
             ["does not match a known node"]),
            ("m-wrong-o", csr_manifest("m-wrong-o", make_csr("system:node:w1", "system:masters")), t1,
             ["not exactly [system:nodes]"]),
            ("m-extra-san", csr_manifest("m-extra-san", make_csr("system:node:w1", "system:nodes", dns=["w1"])), t1,
             ["no SANs"]),
            ("m-usages", csr_manifest("m-usages", make_csr("system:node:w1", "system:nodes"),
                                      usages=["digital signature", "key encipherment", "server auth"]), t1,
             ["usages"]),
            ("m-short-rsa", csr_manifest("m-short-rsa", make_csr("system:node:w1", "system:nodes",
                                                                 key=make_key(1024))), t1, ["RSA 1024"]),
            ("m-reused-key", csr_manifest("m-reused-key", make_csr("system:node:w1", "system:nodes", key=reused)),
             t1, ["reused", "m-first-key"]),
            ("m-wrong-requestor", csr_manifest("m-wrong-requestor", make_csr("system:node:w1", "system:nodes")), t2,
             ["bootstrap token of node w2"]),
            ("m-serving-san", csr_manifest("m-serving-san", make_csr("system:node:w1", "system:nodes",
                                                                     dns=["evil.example"]),
                                           SERVING_SIGNER, SERVING_USAGES), node, ["evil.example"]),
        ]
        for name, manifest, who, words in cases:
            kw = {"token": who} if isinstance(who, str) else {"cert": who}
            st, obj = lab.post(manifest, **kw)
            self.assertEqual(st, 201, (name, obj))
            self.assertIn(words[0], obj["metadata"]["annotations"]["recovery.cpr.io/policy"], name)
            self.assertRefused(name, *words)
        # an expired bootstrap token: refused at the door, and its CSRs are not approved
        boot = lab.bootstrap_kubeconfig("w1", ttl="2s")
        with open(boot) as f:
            tok = rapilab.yaml.safe_load(f)["users"][0]["user"]["token"]
        issued_at = time.time()
        st, obj = lab.post(csr_manifest("m-expired", make_csr("system:node:w1", "system:nodes")), token=tok)
        self.assertEqual(st, 201, obj)
        wait_until(lambda: time.time() > issued_at + 3, 10, "the token to expire")
        self.assertRefused("m-expired", "expired")
        st, obj = lab.post(csr_manifest("m-expired-2", make_csr("system:node:w1", "system:nodes")), token=tok)
        self.assertEqual(st, 401, obj)
        # `cpr csr approve --policy nodes` leaves every one of them pending, with the reason
        r = sh(etcdlab.CPR_PATH, "csr", "approve", "--policy", "nodes", "--kubeconfig", lab.admin_kc, "-w", "json")
        results = {x["name"]: x for x in json.loads(r.stdout)["results"]}
        for name, *_ in cases:
            self.assertEqual(results[name]["result"], "left pending", results[name])
            self.assertEqual(lab.condition(name), "Pending")
        self.assertEqual(lab.condition("m-first-key"), "Approved,Issued")  # the one good CSR

    def test_d_server_rules_and_bad_bodies(self):
        lab = self.lab
        t1 = lab.bootstrap_token("w1")
        pem = make_csr("system:node:w1", "system:nodes")
        y = csr_manifest("rules", pem)
        y["spec"]["username"] = "system:node:w1"  # a lie: the requestor comes from the caller
        y["spec"]["groups"] = ["system:masters"]
        y["status"] = {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "AAAA"}
        st, obj = lab.post(y, token=t1)
        self.assertEqual(st, 201, obj)
        self.assertTrue(obj["spec"]["username"].startswith("system:bootstrap:"))
        self.assertEqual(obj["spec"]["groups"], ["system:bootstrappers", "system:authenticated"])
        self.assertEqual(obj["status"], {})
        st, _ = lab.post(y, token=t1)
        self.assertEqual(st, 409)
        # a bootstrap token may not approve, delete or update
        st, _ = lab.call("PUT", rapilab.BASE % "v1" + "/rules/approval", body=obj, token=t1)
        self.assertEqual(st, 403)
        st, _ = lab.call("DELETE", rapilab.BASE % "v1" + "/rules", token=t1)
        self.assertEqual(st, 403)
        st, _ = lab.call("GET", rapilab.BASE % "v1")
        self.assertEqual(st, 401)
        st, _ = lab.call("GET", rapilab.BASE % "v1", token="abcdef.0123456789abcdef")
        self.assertEqual(st, 401)
        # a stale resourceVersion: 409; Approved and Denied together: 422
        stale = dict(obj, status={"conditions": [{"type": "Approved", "status": "True"}]})
        stale["metadata"] = dict(obj["metadata"], resourceVersion="1")
        st, _ = lab.call("PUT", rapilab.BASE % "v1" + "/rules/approval", body=stale, admin=True)
        self.assertEqual(st, 409)
        both = dict(obj, status={"conditions": [{"type": "Approved", "status": "True"},
                                                {"type": "Denied", "status": "True"}]})
        st, _ = lab.call("PUT", rapilab.BASE % "v1" + "/rules/approval", body=both, admin=True)
        self.assertEqual(st, 422)
        # approval response is the object, issued
        ok = dict(obj, status={"conditions": [{"type": "Approved", "status": "True", "lastTransitionTime": None}]})
        st, got = lab.call("PUT", rapilab.BASE % "v1beta1" + "/rules/approval", body=ok, admin=True)
        self.assertEqual(st, 200, got)
        self.assertEqual(got["apiVersion"], "certificates.k8s.io/v1beta1")
        self.assertTrue(got["status"]["certificate"])
        # bad requests
        bad_pem = csr_manifest("bad-pem", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
        st, obj = lab.post(bad_pem, admin=True)
        self.assertEqual((st, obj["reason"]), (422, "Invalid"))
        der = bytearray(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
        der[der.index(b"system:node:w1")] ^= 0x20  # the signature no longer verifies
        tampered = (b"-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)) +
                    b"-----END CERTIFICATE REQUEST-----\n")
        st, obj = lab.post(csr_manifest("tampered", tampered), admin=True)
        self.assertEqual(st, 422, obj)
        self.assertIn("signature", obj["message"])
        for body in (b"{not json", b"[]", json.dumps({"spec": {"usages": "x"}}).encode(),
                     b"[" * 100000 + b"]" * 100000):
            st, _ = lab.post(body, admin=True)
            self.assertEqual(st, 400, body)
        st, obj = lab.post(dict(csr_manifest("no-usage", pem), spec={"request": base64.b64encode(pem).decode(),
                                                                     "signerName": CLIENT_SIGNER,
                                                                     "usages": ["bogus"]}), admin=True)
        self.assertEqual(st, 422)
        for path in ("/api", "/nope", "/apis/certificates.k8s.io/v2"):
            st, _ = lab.call("GET", path, admin=True)
            self.assertEqual(st, 404, path)
        st, _ = lab.call("PATCH", rapilab.BASE % "v1" + "/rules", body={}, admin=True)
        self.assertEqual(st, 405)

    def test_e_protobuf_bodies(self):
        lab = self.lab
        fixture = rapilab.read(FIXTURE)
        # The fixture approves node-w1-renewal at resourceVersion 1 (capture.py): a
        # fresh server holding that CSR, created by node w1 itself, applies it.
        i = fixture.index(b"-----BEGIN CERTIFICATE REQUEST-----")
        j = fixture.index(b"-----END CERTIFICATE REQUEST-----") + len(b"-----END CERTIFICATE REQUEST-----\n")
        fresh = rapilab.Lab(etcdlab.CPR_PATH, tempfile.mkdtemp(prefix="cpr-rapi-pb-"), {"w1": W1})
        try:
            st, obj = fresh.post(csr_manifest("node-w1-renewal", fixture[i:j]), cert=fresh.node_identity("w1"))
            self.assertEqual((st, obj["metadata"]["resourceVersion"]), (201, "1"), obj)
            pb = "application/vnd.kubernetes.protobuf"
            path = rapilab.BASE % "v1" + "/node-w1-renewal/approval"
            for bad in (fixture[:len(fixture) // 2], fixture[:7], b"k8s\x00" + os.urandom(300), os.urandom(64), b""):
                st, obj = fresh.call("PUT", path, body=bad, ctype=pb, admin=True)
                self.assertEqual(st, 400, (bad[:20], obj))
            st, obj = fresh.call("POST", rapilab.BASE % "v1", body=fixture[:100], ctype=pb, admin=True)
            self.assertEqual(st, 400)
            st, obj = fresh.call("PUT", path, body=fixture, ctype=pb, admin=True)
            self.assertEqual(st, 200, obj)
            self.assertEqual([c["reason"] for c in obj["status"]["conditions"]], ["KubectlApprove"])
            self.assertEqual(fresh.condition("node-w1-renewal"), "Approved,Issued")
            st, obj = fresh.call("PUT", path, body=fixture, ctype=pb, admin=True)
            self.assertEqual(st, 409)  # its resourceVersion is now stale
        finally:
            fresh.close()

    @unittest.skipUnless(HAVE_K132, "no kubectl 1.32 on this machine")
    def test_f_watch_sees_approval(self):
        lab = self.lab
        t2 = lab.bootstrap_token("w2")
        lab.post(csr_manifest("watched", make_csr("system:node:w2", "system:nodes")), token=t2)
        env = dict(os.environ, HOME=lab.home, KUBECONFIG=lab.admin_kc)
        # list + watch from the list's resourceVersion: no change can fall between them
        w = subprocess.Popen([K132, "get", "csr", "-w", "--no-headers"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in w.stdout], daemon=True).start()

        def row(cond):
            end = time.time() + 30
            while time.time() < end:
                try:
                    ln = lines.get(timeout=0.5)
                except queue.Empty:
                    continue
                if ln.startswith("watched ") and ln.split()[-1] == cond:
                    return ln
            raise AssertionError("`kubectl get csr -w` never showed watched as " + cond)
        try:
            row("Pending")
            lab.kubectl("certificate", "approve", "watched", check=True)
            row("Approved,Issued")
        finally:
            w.kill()
            w.wait()

    def test_g_nodes_from_a_backup(self):
        """--nodes-from-snapshot: the Node objects of a backup are known nodes (name, addresses)."""
        d = tempfile.mkdtemp(prefix="cpr-rapi-nodes-")
        e = etcdlab.Etcd("rapi", workdir=d)  # started by its constructor
        try:
            e.put("/registry/minions/worker-0.example.internal",
                  rapilab.read(os.path.join(etcdlab.FIXTURES, "k8s", "node.bin")))
            snap = os.path.join(d, "backup.db")
            e.save(snap)
        finally:
            e.stop()
        lab = rapilab.Lab(etcdlab.CPR_PATH, d, {})
        try:
            lab.serve_args = ["--nodes-from-snapshot", snap]
            lab.kill()
            lab.start()
            tok = lab.bootstrap_token("worker-0.example.internal")
            node = "system:node:worker-0.example.internal"
            st, obj = lab.post(csr_manifest("known-by-backup", make_csr(node, "system:nodes")), token=tok)
            self.assertEqual(st, 201, obj)
            self.assertEqual(obj["metadata"]["annotations"]["recovery.cpr.io/policy"], "passes the node policy")
            # its serving certificate may name its status addresses, nothing else
            crt = lab.node_identity("worker-0.example.internal")
            good = make_csr(node, "system:nodes", dns=["worker-0.example.internal"], ips=["10.0.3.48"])
            st, obj = lab.post(csr_manifest("w0-serving", good, SERVING_SIGNER, SERVING_USAGES), cert=crt)
            self.assertEqual(obj["metadata"]["annotations"]["recovery.cpr.io/policy"], "passes the node policy")
            bad = make_csr(node, "system:nodes", ips=["10.0.3.49"])
            st, obj = lab.post(csr_manifest("w0-bad", bad, SERVING_SIGNER, SERVING_USAGES), cert=crt)
            self.assertIn("10.0.3.49 is not an address", obj["metadata"]["annotations"]["recovery.cpr.io/policy"])
        finally:
            lab.close()

    # -- the kubelet CA of an existing cluster ------------------------------
    def issue_and_verify(self, lab, node, ca_crt, wrong_ca):
        """A bootstrap client CSR of `node` approved by kubectl, then a serving
        CSR made with the issued certificate (the CA is trusted for client
        certificates); both verify against `ca_crt` and not `wrong_ca`."""
        key = make_key()
        pem = make_csr("system:node:" + node, "system:nodes", key=key)
        name = "ca-client-" + node
        st, obj = lab.post(csr_manifest(name, pem), token=lab.bootstrap_token(node))
        self.assertEqual(st, 201, obj)
        lab.kubectl("certificate", "approve", name, binary=K120, check=True)
        crt = os.path.join(lab.d, name + ".crt")
        rapilab.write(crt, base64.b64decode(lab.get(name)["status"]["certificate"]))
        crt_key = os.path.join(lab.d, name + ".key")
        rapilab.write(crt_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
        sh("openssl", "verify", "-CAfile", ca_crt, crt)
        self.assertNotEqual(sh("openssl", "verify", "-CAfile", wrong_ca, crt, check=False).returncode, 0)
        serving = make_csr("system:node:" + node, "system:nodes", dns=[node], ips=[lab.nodes[node]])
        st, obj = lab.post(csr_manifest(name + "-serving", serving, SERVING_SIGNER, SERVING_USAGES),
                           cert=(crt, crt_key))
        self.assertEqual((st, obj["spec"]["username"]), (201, "system:node:" + node), obj)
        lab.kubectl("certificate", "approve", name + "-serving", binary=K120, check=True)
        served = os.path.join(lab.d, name + "-serving.crt")
        rapilab.write(served, base64.b64decode(lab.get(name + "-serving")["status"]["certificate"]))
        sh("openssl", "verify", "-CAfile", ca_crt, served)

    def tempdir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(lambda: shutil.rmtree(d, ignore_errors=True))
        return d

    def check_kubelet_ca(self, serve_args, source, ca_crt, wrong_ca=None):
        """A recovery API started with `serve_args` names `source` as its kubelet
        CA (stdout and audit log) and signs with `ca_crt` (issue_and_verify)."""
        lab = rapilab.Lab(etcdlab.CPR_PATH, tempfile.mkdtemp(prefix="cpr-rapi-ca-"), {})
        try:
            lab.nodes = {"w1": W1}
            lab.serve_args = list(serve_args)
            lab.start()
            wait_until(lambda: "kubelet certificates signed by the CA of " + source in lab.server_log(), 10,
                       "the startup line naming the kubelet CA")
            self.assertIn("kubelet-ca=\"" + source, rapilab.read(os.path.join(lab.state, "audit.log"), "r"))
            self.issue_and_verify(lab, "w1", ca_crt, wrong_ca or os.path.join(lab.pki, "kubelet-client-ca.crt"))
        finally:
            lab.close()

    def test_h_kubelet_ca_from_files(self):
        """--ca/--ca-key: a CA made by openssl signs both kinds and authenticates the node."""
        d = self.tempdir("cpr-rapi-cafiles-")
        ca_crt, ca_key = pkilab.ossl_ca(d, "csr-signer", "openshift-kube-controller-manager-operator_csr-signer")
        self.check_kubelet_ca(["--ca", ca_crt, "--ca-key", ca_key], "--ca " + ca_crt, ca_crt)

    def test_i_kubelet_ca_from_a_backup(self):
        """--ca-from-snapshot: the csr-signer Secret of a backup (encrypted at rest), and its fallback."""
        d = self.tempdir("cpr-rapi-casnap-")
        op_crt, op_key = pkilab.ossl_ca(d, "op", "operator-csr-signer")
        kcm_crt, kcm_key = pkilab.ossl_ca(d, "kcm", "kcm-csr-signer")
        enc_key = os.urandom(32)
        enc = pkilab.encryption_config(os.path.join(d, "encryption-config.yaml"), [("key1", enc_key)])
        empty, fallback, both = (os.path.join(d, n + ".db") for n in ("empty", "fallback", "both"))
        op_key_path = "/kubernetes.io/secrets/openshift-kube-controller-manager-operator/csr-signer"
        with etcdlab.Etcd("rapi-ca", workdir=d) as e:
            e.put("/kubernetes.io/secrets/openshift-config/etcd-signer",
                  pkilab.tls_secret("openshift-config", "etcd-signer", kcm_crt, kcm_key))
            e.save(empty)
            e.put("/registry/secrets/openshift-kube-controller-manager/csr-signer",
                  pkilab.tls_secret("openshift-kube-controller-manager", "csr-signer", kcm_crt, kcm_key))
            e.save(fallback)
            e.put(op_key_path, pkilab.aescbc(enc_key, "key1", pkilab.tls_secret(
                "openshift-kube-controller-manager-operator", "csr-signer", op_crt, op_key)))
            e.save(both)
        # encrypted, and no config: refused naming the key it needs
        r = self.serve_fails("--ca-from-snapshot", both)
        self.assertIn("key1", r.stderr)
        # the operator's Secret first; else the controller manager's copy (/registry, not encrypted)
        self.check_kubelet_ca(["--ca-from-snapshot", both, "--encryption-config", enc],
                              "snapshot %s (openshift-kube-controller-manager-operator/csr-signer)" % both,
                              op_crt, kcm_crt)
        self.check_kubelet_ca(["--ca-from-snapshot", fallback],
                              "snapshot %s (openshift-kube-controller-manager/csr-signer)" % fallback,
                              kcm_crt, op_crt)
        # neither: refused, naming what was looked for and what to do
        r = self.serve_fails("--ca-from-snapshot", empty)
        for words in ("openshift-kube-controller-manager-operator/csr-signer",
                      "openshift-kube-controller-manager/csr-signer", "--ca CRT --ca-key KEY"):
            self.assertIn(words, r.stderr)

    def serve_fails(self, *args):
        """`recovery-api serve` with `args` exits non-zero before serving; its result."""
        state = self.tempdir("cpr-rapi-bad-")
        ip = rapilab.free_ip()
        r = sh(etcdlab.CPR_PATH, "recovery-api", "serve", "--pki", self.lab.pki, "--listen",
               "%s:%d" % (ip, rapilab.free_port(ip)), "--state", state, "--node", "w1=" + W1, *args,
               check=False, timeout=30)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)  # one clear line
        return r

    def test_j_kubelet_ca_refusals(self):
        d = self.tempdir("cpr-rapi-caerr-")
        ca_crt, ca_key = pkilab.ossl_ca(d, "ca", "good-ca")
        _, other_key = pkilab.ossl_ca(d, "other", "other-ca")
        leaf_crt, leaf_key = pkilab.ossl_leaf(d, "leaf", "not-a-ca", ca_crt, ca_key)
        old_crt, old_key = pkilab.ossl_leaf(d, "old", "expired-ca", ca_crt, ca_key, start=pkilab.utc_stamp(-7200),
                                            end=pkilab.utc_stamp(-3600), is_ca=True)
        cases = [
            (["--ca", ca_crt], "--ca: given without --ca-key"),
            (["--ca-key", ca_key], "--ca-key: given without --ca"),
            (["--ca", ca_crt, "--ca-key", ca_key, "--ca-from-snapshot", os.path.join(d, "x.db")], "not both"),
            (["--encryption-config", os.path.join(d, "x.yaml")], "only with --ca-from-snapshot"),
            (["--ca", ca_crt, "--ca-key", other_key], "does not match"),
            (["--ca", leaf_crt, "--ca-key", leaf_key], "is not a CA certificate"),
            (["--ca", old_crt, "--ca-key", old_key], "expired"),
            (["--ca", os.path.join(d, "missing.crt"), "--ca-key", os.path.join(d, "missing.key")], "missing.crt"),
        ]
        for args, words in cases:
            r = self.serve_fails(*args)
            self.assertIn(words, r.stderr, args)

    # -- the operator override ---------------------------------------------
    def cpr_approve(self, name, *args):
        """`cpr csr approve NAME ARGS -w json`: its exit code and NAME's result."""
        r = sh(etcdlab.CPR_PATH, "csr", "approve", name, *args, "--kubeconfig", self.lab.admin_kc, "-w", "json",
               check=False)
        return r.returncode, json.loads(r.stdout)["results"][0]

    def test_k_policy_override(self):
        lab = self.lab
        cpr = etcdlab.CPR_PATH
        why = "replacement node, inventory stale"
        tok = lab.bootstrap_token("w3")  # w3 is no --node: the inventory is stale
        st, obj = lab.post(csr_manifest("ovr-w3", make_csr("system:node:w3", "system:nodes")), token=tok)
        self.assertEqual(st, 201, obj)
        self.assertRefused("ovr-w3", "does not match a known node")
        rc, result = self.cpr_approve("ovr-w3")
        self.assertEqual((rc, result["result"]), (1, "left pending"), result)
        self.assertRegex(result["reason"], "HTTP 403: .*does not match a known node")
        # the CLI refuses an override without a justification or with --policy nodes
        for args in (["--override", ""], ["--override", "  "], ["--override", why, "--policy", "nodes"]):
            r = sh(cpr, "csr", "approve", "ovr-w3", *args, "--kubeconfig", lab.admin_kc, check=False)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn("--override", r.stderr)
        self.assertEqual(lab.condition("ovr-w3"), "Pending")
        # a non-master's override, and a master's without justification: the normal policy
        ask = dict(lab.get("ovr-w3"), status={"conditions": [
            {"type": "Approved", "status": "True", "reason": "CPRPolicyOverride", "message": why}]})
        st, obj = lab.call("PUT", rapilab.BASE % "v1" + "/ovr-w3/approval", body=ask,
                           cert=lab.user_identity("ops", "system:authenticated"))
        self.assertEqual(st, 403, obj)
        st, obj = lab.call("PUT", rapilab.BASE % "v1" + "/ovr-w3/approval", body=ask,
                           cert=lab.node_identity("w3"))
        self.assertEqual(st, 403, obj)
        ask["status"]["conditions"][0]["message"] = ""
        st, obj = lab.call("PUT", rapilab.BASE % "v1" + "/ovr-w3/approval", body=ask, admin=True)
        self.assertEqual(st, 403, obj)
        self.assertIn("needs a justification", obj["message"])
        self.assertEqual(lab.condition("ovr-w3"), "Pending")
        # the operator's override issues it, signed by the kubelet client CA
        rc, result = self.cpr_approve("ovr-w3", "--override", why)
        self.assertEqual((rc, result["result"]), (0, "Approved,Issued"), result)
        crt = os.path.join(lab.d, "ovr-w3.crt")
        rapilab.write(crt, base64.b64decode(lab.get("ovr-w3")["status"]["certificate"]))
        sh("openssl", "verify", "-CAfile", os.path.join(lab.pki, "kubelet-client-ca.crt"), crt)
        # describe keeps the policy's own verdict beside the override and its justification
        r = sh(cpr, "csr", "describe", "ovr-w3", "--kubeconfig", lab.admin_kc)
        self.assertRegex(r.stdout, r"Node policy:\s+CN system:node:w3 does not match a known node")
        self.assertRegex(r.stdout, r"Condition:\s+Approved .*\(CPRPolicyOverride\) " + why)
        audit = rapilab.read(os.path.join(lab.state, "audit.log"), "r")
        self.assertRegex(audit, r"policy override for ovr-w3 by cpr-recovery-admin: justification \"%s\"; "
                                r"the policy said: \"CN system:node:w3 does not match a known node\"" % why)
        self.assertNotIn(tok.split(".")[1], audit)
        # what the override keeps: a client CSR with a SAN stays refused
        st, obj = lab.post(csr_manifest("ovr-rogue", make_csr("system:node:w3", "system:nodes", dns=["w3.evil"])),
                           token=tok)
        self.assertEqual(st, 201, obj)
        rc, result = self.cpr_approve("ovr-rogue", "--override", why)
        self.assertEqual((rc, result["result"]), (1, "left pending"), result)
        self.assertIn("must have no SANs (a rule the operator override does not waive)", result["reason"])
        self.assertEqual(lab.condition("ovr-rogue"), "Pending")

    def test_z_persistence(self):
        lab = self.lab
        st, obj = lab.call("GET", rapilab.BASE % "v1", admin=True)
        before = {i["metadata"]["name"]: (i["metadata"]["resourceVersion"], i["status"]) for i in obj["items"]}
        self.assertGreater(len(before), 5)
        lab.kill()  # SIGKILL: nothing answered may be lost
        lab.start()
        st, obj = lab.call("GET", rapilab.BASE % "v1", admin=True)
        after = {i["metadata"]["name"]: (i["metadata"]["resourceVersion"], i["status"]) for i in obj["items"]}
        self.assertEqual(after, before)
        st, created = lab.post(csr_manifest("after-restart", make_csr("system:node:w2", "system:nodes")), admin=True)
        self.assertGreater(int(created["metadata"]["resourceVersion"]), int(obj["metadata"]["resourceVersion"]) - 1)
        lab.stop()
        r = sh(etcdlab.CPR_PATH, "recovery-api", "stop", "--state", lab.state)
        self.assertIn("no recovery API running", r.stdout)
        lab.start()
        self.assertEqual(lab.condition("after-restart"), "Pending")
        for f in os.listdir(os.path.join(lab.state, "csrs")):
            self.assertEqual(os.stat(os.path.join(lab.state, "csrs", f)).st_mode & 0o777, 0o600)
        logs = lab.server_log() + rapilab.read(os.path.join(lab.state, "audit.log"), "r")
        for kc in os.listdir(lab.d):
            if kc.startswith("boot-"):
                with open(os.path.join(lab.d, kc)) as f:
                    tok = rapilab.yaml.safe_load(f)["users"][0]["user"]["token"]
                self.assertNotIn(tok.split(".")[1], logs)


if __name__ == "__main__":
    etcdlab.main()
