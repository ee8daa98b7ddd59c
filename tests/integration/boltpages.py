"""A small, independent bbolt page map for the corruption tests.

Walks a bbolt file (etcd snapshot) from the current meta page down through
every bucket and records, for each reachable page, its type, overflow count
and bucket, so a test can damage "a branch page of the key bucket" on
purpose. Written from docs in shared/docs/etcd-formats.md section 1; not a
verifier: it trusts the file (use it on sound files only).
"""
import hashlib
import struct

BRANCH, LEAF, META, FREELIST = 0x01, 0x02, 0x04, 0x10
MAGIC = 0xED0CDAED
TRAILER = 32  # sha256 appended by `etcdctl snapshot save`


class Page:
    def __init__(self, pgid, kind, overflow, bucket, depth):
        self.pgid, self.kind, self.overflow, self.bucket, self.depth = pgid, kind, overflow, bucket, depth

    def __repr__(self):
        return "Page(%d %s ovf=%d bucket=%s depth=%d)" % (
            self.pgid, self.kind, self.overflow, self.bucket, self.depth)


class BoltMap:
    def __init__(self, data):
        self.data = data
        metas = []
        for i in (0, 1):
            off = i * 4096 + 16
            m = struct.unpack_from("<IIIIQQQQQQ", data, off)
            if m[0] == MAGIC:
                metas.append(m)
        if not metas:
            raise ValueError("no valid meta page")
        m = max(metas, key=lambda x: x[8])  # larger txid
        (_, _, self.page_size, _, self.root, _, self.freelist, self.hwm, self.txid, _) = m
        self.pages = {}  # pgid -> Page
        self.pages[0] = Page(0, "meta", 0, None, 0)
        self.pages[1] = Page(1, "meta", 0, None, 0)
        if self.freelist != 0xFFFFFFFFFFFFFFFF:
            _, flags, _, ovf = self.header(self.freelist)
            self.pages[self.freelist] = Page(self.freelist, "freelist", ovf, None, 0)
        self.bucket_roots = {}  # name -> root pgid (0 = inline)
        self.bucket_values = {}  # name -> (file offset of the bucket value, its size)
        self._walk(self.root, "<root>", 0, top=True)

    def header(self, pgid):
        return struct.unpack_from("<QHHI", self.data, pgid * self.page_size)

    def _walk(self, pgid, bucket, depth, top=False):
        _, flags, count, ovf = self.header(pgid)
        base = pgid * self.page_size
        if flags & BRANCH:
            self.pages[pgid] = Page(pgid, "branch", ovf, bucket, depth)
            for i in range(count):
                _, _, child = struct.unpack_from("<IIQ", self.data, base + 16 + 16 * i)
                self._walk(child, bucket, depth + 1, top)
        elif flags & LEAF:
            self.pages[pgid] = Page(pgid, "leaf", ovf, bucket, depth)
            if top:
                for i in range(count):
                    e = base + 16 + 16 * i
                    eflags, pos, ksize, vsize = struct.unpack_from("<IIII", self.data, e)
                    name = bytes(self.data[e + pos:e + pos + ksize]).decode("latin-1")
                    broot, _ = struct.unpack_from("<QQ", self.data, e + pos + ksize)
                    self.bucket_roots[name] = broot
                    self.bucket_values[name] = (e + pos + ksize, vsize)
                    if broot:
                        self._walk(broot, name, 0)
        else:
            raise ValueError("page %d: unexpected flags 0x%x" % (pgid, flags))

    def of(self, kind, bucket=None, overflow=None):
        """Reachable pages of a kind (and bucket; overflow=True: only pages with overflow)."""
        out = [p for p in self.pages.values() if p.kind == kind and (bucket is None or p.bucket == bucket)]
        if overflow is not None:
            out = [p for p in out if (p.overflow > 0) == overflow]
        return sorted(out, key=lambda p: p.pgid)

    def last_byte(self, pages):
        """File offset just past the last byte of the given pages."""
        return max((p.pgid + 1 + p.overflow) * self.page_size for p in pages)


def has_trailer(data):
    return len(data) % 512 == TRAILER


def fix_trailer(data):
    """Recompute the sha256 trailer over the bytes before it (so only the bbolt
    structure is wrong, and verify has to find it there)."""
    body = bytes(data[:-TRAILER])
    return body + hashlib.sha256(body).digest()


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def set_meta(data, i, **fields):
    """Return data with meta page i's fields changed (root, pgid, freelist,
    txid, magic, version) and its checksum recomputed."""
    names = ["magic", "version", "pageSize", "flags", "root", "sequence", "freelist", "pgid", "txid"]
    off = i * 4096 + 16
    vals = list(struct.unpack_from("<IIIIQQQQQ", data, off))
    for k, v in fields.items():
        vals[names.index(k)] = v
    b = bytearray(data)
    struct.pack_into("<IIIIQQQQQ", b, off, *vals)
    struct.pack_into("<Q", b, off + 56, fnv1a64(bytes(b[off:off + 56])))
    return bytes(b)


def leaf_elems(data, page_size, pgid):
    """[(elem offset, flags, key offset, ksize, vsize)] of a leaf page."""
    base = pgid * page_size
    _, _, count, _ = struct.unpack_from("<QHHI", data, base)
    out = []
    for i in range(count):
        e = base + 16 + 16 * i
        f, pos, ks, vs = struct.unpack_from("<IIII", data, e)
        out.append((e, f, e + pos, ks, vs))
    return out


def first_user_key(m):
    """The user key of the first record in the key bucket (KeyValue field 1)."""
    # leftmost leaf: follow element 0 from the bucket root
    pg = m.bucket_roots["key"]
    while m.pages[pg].kind == "branch":
        _, _, pg = struct.unpack_from("<IIQ", m.data, pg * m.page_size + 16)
    e, _, koff, ks, vs = leaf_elems(m.data, m.page_size, pg)[0]
    v = m.data[koff + ks:koff + ks + vs]
    assert v[0] == 0x0A
    n, i, shift = 0, 1, 0
    while True:
        c = v[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            break
    return bytes(v[i:i + n])
