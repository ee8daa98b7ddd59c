#!/usr/bin/python3
"""`cpr drill` (the README's main job) runs and passes on this machine, and
its HTML report shows the timeline in a real browser: headless Chromium
(Debian's chromium) takes a screenshot, and the phases' bars (the timeline's
colour #337ab7) are in it."""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

import etcdlab

CHROMIUM = "/usr/bin/chromium"
BAR = (0x33, 0x7A, 0xB7)


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA, non-interlaced PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows


class Drill(etcdlab.TestCase):
    def test_drill_passes_and_its_report_shows_the_timeline(self):
        c = etcdlab.cpr()
        tmp = tempfile.mkdtemp(prefix="cpr-drill-it-")
        self.addCleanup(shutil.rmtree, tmp, True)
        report = os.path.join(tmp, "drill.html")
        r = c.run("drill", "--dir", os.path.join(tmp, "labs"), "--mb", "4", "--report", report,
                  "-w", "json", timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr.decode()[-3000:])
        doc = json.loads(r.stdout)
        self.assertTrue(doc["ok"])
        names = [s["name"] for s in doc["scenarios"]]
        self.assertEqual(names, ["quorum-loss", "previous-state", "no-usable-backup",
                                 "expired-certificates"])
        for s in doc["scenarios"]:
            self.assertTrue(s["checks"], s["name"])
            self.assertTrue(all(ch["ok"] for ch in s["checks"]), s["checks"])
            self.assertTrue(any(p["steps"] for p in s["phases"]), "no procedure steps recorded")
        q = doc["scenarios"][0]
        self.assertGreater(q["rto_seconds"], 0)
        self.assertLess(q["rto_seconds"], 30)
        # grown back to three voting masters after scenarios 1 and 3
        for s in (q, doc["scenarios"][2]):
            self.assertGreater(s["full_strength_seconds"], s["rto_seconds"])
            self.assertTrue(any(ch["name"].startswith("three voting members") and ch["ok"]
                                for ch in s["checks"]), s["checks"])
            grow = [p for p in s["phases"] if p["name"].startswith("cpr member recover")]
            self.assertEqual(len(grow), 1)
            self.assertEqual({st["host"] for st in grow[0]["steps"]}, {"m4", "m5"})
        n = doc["scenarios"][2]
        self.assertTrue(any("--from-data-dir" in p["name"] and p["ok"] for p in n["phases"]))
        # the expired-certificate drill: a start failed on TLS, certs check named the expired
        # certificates, the kubelets' CSRs (and only they) were approved and issued
        e = doc["scenarios"][3]
        checks = {ch["name"]: ch for ch in e["checks"]}
        self.assertIn("a start fails on TLS: the members log expired certificates, no read succeeds",
                      checks)
        for m in ("m1", "m2", "m3"):
            self.assertIn("metric.crt, peer.crt, server.crt",
                          checks[m + ": certs check names peer, server and metrics as expired"]["detail"])
        approved = checks["csr approve --policy nodes approved exactly the kubelets' CSRs"]["detail"]
        self.assertEqual(approved.count("node-csr-"), 2, approved)
        self.assertIn("does not match a known node", checks["rogue-unknown-node stays pending, with the reason"]["detail"])
        self.assertIn("no SANs", checks["rogue-extra-san stays pending, with the reason"]["detail"])
        for w in ("w1", "w2"):
            self.assertEqual(checks[w + ": its new client certificate verifies against the kubelet client CA"]["detail"],
                             "system:node:" + w)
        self.assertGreater(e["certificates_recovered_seconds"], 0)
        self.assertIn("Certificate recovery", open(report).read())
        # every process of the drill's labs is gone
        out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        self.assertNotIn(os.path.join(tmp, "labs"), out)
        html = open(report).read()
        self.assertIn("<svg", html)
        self.assertNotIn("http://", html.split("<svg", 1)[0].replace("http://www.w3.org", ""))
        # Chromium renders it; the timeline's bars are on the screenshot
        self.assertTrue(os.access(CHROMIUM, os.X_OK), "chromium missing: run scripts/setup.sh")
        shot = os.path.join(tmp, "report.png")
        profile = tempfile.mkdtemp(prefix="cpr-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking",
                            "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile, "--window-size=1100,900",
                            "--screenshot=" + shot, "file://" + report],
                           capture_output=True, timeout=120)
        self.assertTrue(os.path.exists(shot), p.stderr.decode()[-1500:])
        w, h, rows = png_pixels(shot)
        bar = sum(1 for row in rows for px in row
                  if all(abs(a - b) <= 6 for a, b in zip(px, BAR)))
        self.assertGreater(bar, 500, "the timeline's bars are not on the screenshot (%d px)" % bar)


if __name__ == "__main__":
    etcdlab.main()
