#!/usr/bin/python3
"""Kubernetes values in a real etcd 3.4 snapshot: `cpr snapshot ls -w json`
names each object's apiVersion/kind/namespace/name as put, and `get -w yaml`
shows its metadata (name, namespace, uid, labels, annotations, owner
references, creationTimestamp; resourceVersion = the key's mod revision).

Values come from tools/k8s/make_k8s_values.py (byte-identical to the
apiserver's own serializer): Pods, ConfigMaps, Secrets, Nodes, Leases,
Events (with an etcd lease), Deployments, ReplicaSets, Services,
ServiceAccounts, RoleBindings, EndpointSlices; custom resources (JSON,
namespaced and cluster-scoped); an encrypted-at-rest Secret; an object under
OpenShift's /kubernetes.io prefix; non-object values under /registry."""
import datetime
import os
import random
import shutil
import sys
import tempfile

import yaml

import etcdlab

sys.path.insert(0, os.path.join(etcdlab.REPO, "tools", "k8s"))
import make_k8s_values as k8s  # noqa: E402

unb64 = etcdlab.unb64
KINDS = ["Pod", "ConfigMap", "Secret", "Node", "Lease", "Event", "Deployment", "ReplicaSet",
         "Service", "ServiceAccount", "RoleBinding", "EndpointSlice"]


def ts(v):
    """A YAML timestamp (PyYAML parses unquoted ones to datetime) as RFC 3339."""
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)


def find_object(doc):
    """The first mapping with a metadata mapping in cpr's YAML document."""
    if isinstance(doc, dict):
        if isinstance(doc.get("metadata"), dict) and ("kind" in doc or "name" in doc["metadata"]):
            return doc
        for v in doc.values():
            o = find_object(v)
            if o is not None:
                return o
    elif isinstance(doc, list):
        for v in doc:
            o = find_object(v)
            if o is not None:
                return o
    return None


class K8s(etcdlab.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = etcdlab.cpr()
        cls.tmp = tempfile.mkdtemp(prefix="cpr-k8s-")
        e = cls.e = etcdlab.Etcd("k8s", workdir=cls.tmp)
        try:
            cls._build(e)
        except BaseException:
            e.stop()
            raise

    @classmethod
    def _build(cls, e):
        rnd = random.Random(4242)
        cls.expect = {}   # key -> dict(kind, apiVersion, name, namespace, meta (decode_meta))
        cls.values = {}   # key -> bytes
        ev_lease = e.lease(3 * 3600)

        def add(key, value, kind, api, name, ns, lease=None):
            e.put(key, value, lease=lease)
            cls.values[key] = value
            cls.expect[key] = dict(kind=kind, apiVersion=api, name=name, namespace=ns or "",
                                   meta=k8s.decode_meta(value))

        for i in range(60):
            kind = KINDS[i % len(KINDS)]
            api, _, namespaced = k8s.KINDS[kind]
            ns = "team-%d" % (i % 4) if namespaced else None
            name = "%s-%05d" % (kind.lower(), rnd.randrange(10 ** 5))
            v = k8s.encode(kind, name, ns, size_hint=rnd.choice([0, 1500, 6000]), rng=rnd)
            add(k8s.key_for(kind, name, ns), v, kind, api, name, ns,
                lease=ev_lease if kind == "Event" else None)
        # OpenShift's kube-apiserver prefix
        v = k8s.encode("Pod", "oc-pod-1", "openshift-etcd", rng=rnd)
        add(k8s.key_for("Pod", "oc-pod-1", "openshift-etcd", prefix="kubernetes.io"), v, "Pod", "v1",
            "oc-pod-1", "openshift-etcd")
        # custom resources (JSON), namespaced and cluster-scoped
        for i in range(4):
            name = "widget-%d" % i
            v = k8s.encode_cr_json("Widget", name, "team-0", size_hint=900, group="example.com", rng=rnd)
            add(k8s.key_for("Widget", name, "team-0", group="example.com", plural="widgets"), v,
                "Widget", "example.com/v1", name, "team-0")
        v = k8s.encode_cr_json("Gadget", "global-gadget", None, group="example.com", rng=rnd)
        add(k8s.key_for("Gadget", "global-gadget", None, group="example.com", plural="gadgets"), v,
            "Gadget", "example.com/v1", "global-gadget", None)
        # objects updated after creation: resourceVersion must follow
        cls.updated = [k for k in cls.expect if cls.expect[k]["kind"] in ("Pod", "ConfigMap")][:4]
        for k in cls.updated:
            e.put(k, cls.values[k])
        # encrypted at rest
        plain = k8s.encode("Secret", "db-password", "team-1", rng=rnd)
        cls.enc_key = k8s.key_for("Secret", "db-password", "team-1")
        cls.enc_value = k8s.encrypt_like(plain, "aescbc", "key1", rng=rnd)
        e.put(cls.enc_key, cls.enc_value)
        cls.values[cls.enc_key] = cls.enc_value
        cls.enc_gcm_key = k8s.key_for("Secret", "api-token", "team-2")
        cls.values[cls.enc_gcm_key] = k8s.encrypt_like(plain, "aesgcm", "gcmkey2", rng=rnd)
        e.put(cls.enc_gcm_key, cls.values[cls.enc_gcm_key])
        # not objects
        cls.plain_keys = ["compact_rev_key", "/registry/health", "/registry/masterleases/10.0.0.1"]
        e.put("compact_rev_key", "12345")
        e.put("/registry/health", '{"health":"true"}')
        e.put("/registry/masterleases/10.0.0.1", b"\x0a\x01\x02 not an envelope")
        cls.snap = e.save(os.path.join(cls.tmp, "k8s.db"))
        cls.ref = e.get_all()
        cls.mod = {unb64(kv["key"]).decode(): int(kv["mod_revision"]) for kv in cls.ref["kvs"]}

    @classmethod
    def tearDownClass(cls):
        cls.e.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ls(self, *args):
        doc = self.c.json("snapshot", "ls", self.snap, *args)
        return doc, {unb64(kv["key"]).decode("utf-8", "replace"): kv for kv in doc["kvs"]}

    def test_ls_equals_etcd(self):
        doc, _ = self.ls()
        self.assertKvsEqual(doc, self.ref, what="ls of the k8s snapshot")

    def test_ls_names_objects(self):
        _, by_key = self.ls()
        for key, exp in self.expect.items():
            with self.subTest(key=key):
                obj = by_key[key].get("k8s")
                self.assertIsInstance(obj, dict, "no k8s object for %s" % key)
                self.assertEqual(obj.get("kind"), exp["kind"])
                self.assertEqual(obj.get("name"), exp["name"])
                self.assertEqual(obj.get("namespace") or "", exp["namespace"])
                self.assertEqual(obj.get("apiVersion"), exp["apiVersion"])

    def test_ls_plain_values_not_objects(self):
        _, by_key = self.ls()
        # not objects: no "k8s" entry, or (the key map may name the resource)
        # one that says something; never an empty {"kind": "", ...}
        for key in self.plain_keys:
            with self.subTest(key=key):
                obj = by_key[key].get("k8s")
                if obj is not None:
                    self.assertTrue(obj.get("kind"), "empty k8s entry for %s: %s" % (key, obj))

    def test_ls_prefix_and_table(self):
        doc, by_key = self.ls("/registry/pods/")
        want = sorted(k for k in self.expect if k.startswith("/registry/pods/"))
        self.assertEqual(sorted(by_key), want)
        r = self.c.ok("snapshot", "ls", self.snap, "/registry/minions/")
        lines = r.stdout.decode().splitlines()
        head = next(ln for ln in lines if "KEY" in ln.upper()).upper()
        for col in ("KIND", "NAMESPACE", "NAME"):
            self.assertIn(col, head)
        nodes = [k for k, x in self.expect.items() if x["kind"] == "Node"]
        for k in nodes:
            self.assertTrue(any(self.expect[k]["name"] in ln and "Node" in ln for ln in lines[1:]), k)

    def test_get_raw_exact(self):
        for key, v in self.values.items():
            with self.subTest(key=key):
                self.assertEqual(self.c.ok("snapshot", "get", self.snap, key, "-w", "raw").stdout, v)

    def test_get_json_k8s(self):
        for key, exp in list(self.expect.items())[:20]:
            got = self.c.json("snapshot", "get", self.snap, key)
            self.assertEqual(got["count"], 1)
            self.assertEqual(got["kvs"][0]["k8s"]["kind"], exp["kind"])

    def yaml_object(self, key):
        r = self.c.ok("snapshot", "get", self.snap, key, "-w", "yaml")
        docs = [d for d in yaml.safe_load_all(r.stdout) if d is not None]
        self.assertTrue(docs, "empty yaml for %s" % key)
        return r.stdout.decode(), find_object(docs)

    def test_get_yaml_metadata(self):
        seen = set()
        for key, exp in self.expect.items():
            if exp["kind"] in seen and key not in self.updated:
                continue
            seen.add(exp["kind"])
            with self.subTest(key=key):
                text, obj = self.yaml_object(key)
                self.assertIsNotNone(obj, "no object with metadata in:\n" + text[:1500])
                md, want = obj["metadata"], exp["meta"]
                self.assertEqual(obj.get("kind"), exp["kind"])
                self.assertEqual(obj.get("apiVersion"), exp["apiVersion"])
                self.assertEqual(md.get("name"), exp["name"])
                self.assertEqual(md.get("namespace") or "", exp["namespace"])
                self.assertEqual(md.get("uid"), want["uid"])
                self.assertEqual(md.get("labels") or {}, want.get("labels") or {})
                self.assertEqual(ts(md.get("creationTimestamp")), want["creationTimestamp"])
                if want.get("format") == "protobuf":
                    # a string, as in the API (an unquoted YAML int would not load into ObjectMeta)
                    self.assertEqual(md.get("resourceVersion"), str(self.mod[key]),
                                     "resourceVersion: the mod revision, as a string")
                    self.assertEqual(md.get("annotations") or {}, want["annotations"])
                    owners = [(o.get("kind"), o.get("name"), o.get("uid"))
                              for o in md.get("ownerReferences") or []]
                    self.assertEqual(owners, [(o["kind"], o["name"], o["uid"])
                                              for o in want["ownerReferences"]])
        self.assertTrue({"Widget", "Gadget"} <= seen)

    def test_get_yaml_encrypted(self):
        for key, provider, name in ((self.enc_key, "aescbc", "key1"),
                                    (self.enc_gcm_key, "aesgcm", "gcmkey2")):
            with self.subTest(key=key):
                r = self.c.ok("snapshot", "get", self.snap, key, "-w", "yaml")
                text = r.stdout.decode().lower()
                self.assertIn("encrypt", text)
                self.assertIn(provider, text)
                self.assertIn(name, text)
                yaml.safe_load(r.stdout)  # still valid YAML

    def test_get_yaml_plain(self):
        text = self.c.ok("snapshot", "get", self.snap, "compact_rev_key", "-w", "yaml").stdout
        self.assertIn(b"12345", text)
        for key in self.plain_keys:
            yaml.safe_load(self.c.ok("snapshot", "get", self.snap, key, "-w", "yaml").stdout)

    def test_history_of_updated_object(self):
        for key in self.updated:
            h = self.c.json("snapshot", "history", self.snap, key)
            self.assertEqual([e["type"] for e in h["events"]], ["PUT", "PUT"])
            self.assertEqual(h["events"][-1]["kv"]["version"], 2)


if __name__ == "__main__":
    etcdlab.main()
