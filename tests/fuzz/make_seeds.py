#!/usr/bin/env python3
"""Makes the seed corpus of bolt_fuzz (tests/fuzz/corpus/); rerun it at will.

The corpus holds small real etcd 3.4 snapshots (at most 20 KiB of pages plus
the 32-byte trailer) and, for each, two mutants next to it:

  BASE--bucket-name.db   a top-level bucket renamed by its last byte
                         (key -> kez): bbolt's order holds, so only etcd's
                         schema check can tell;
  BASE--sub-revision.db  bytes 9..16 (the sub-revision) of a 17-byte key of
                         the `key` bucket changed, the key order kept.

A mutant's SHA-256 trailer is recomputed when the file has one (size % 512
== 32), so the trailer check passes and the fault is in the data alone.

Bases: the small fixtures of tests/fixtures/etcd-formats/ (copied in), and
every other corpus file without "--" in its name (snapshots saved with
etcd 3.4.23's `etcdctl snapshot save`, see the table at the end). Mutants of
bases that are gone are removed. Python 3 standard library only.

    python3 tests/fuzz/make_seeds.py          # write the mutants
    python3 tests/fuzz/make_seeds.py --check  # exit 1 if a file would change
"""

import hashlib
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FIXTURES = HERE.parent / "fixtures" / "etcd-formats"

# Fixtures copied in: corpus name <- fixture path (relative to FIXTURES).
FIXTURE_BASES = {
    "snapA.db": "snapA.db",
    "restored-r1.db": "restore-r1/db",
}
MAX_BASE_BYTES = 20 * 1024 + 32  # 20 KiB of pages and a trailer
MAGIC = 0xED0CDAED
BRANCH, LEAF = 0x01, 0x02
BUCKET_LEAF = 0x01
KEY_BUCKET = b"key"


def u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for c in data:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


class Db:
    """The few parts of a bbolt file the mutants need (etcd-formats.md §1)."""

    def __init__(self, data, name):
        self.data = data
        self.name = name
        metas = []
        ps0 = u32(data, 24) if len(data) >= 28 else 4096
        if ps0 < 1024 or ps0 > 1 << 20 or ps0 & (ps0 - 1):
            ps0 = 4096  # meta 0 is bad: bbolt falls back to the OS page size
        for m in (16, ps0 + 16):
            if len(data) < m + 64 or u32(data, m) != MAGIC or u32(data, m + 4) != 2:
                continue
            if u64(data, m + 56) != fnv1a64(data[m : m + 56]):
                continue
            metas.append((u64(data, m + 48), u32(data, m + 8), u64(data, m + 16)))
        if not metas:
            raise SystemExit(f"{name}: no valid meta page")
        _, self.ps, self.root = max(metas)

    def elements(self, base):
        """Leaf elements of the page at byte offset `base`:
        (flags, key offset, key size, value offset, value size)."""
        out = []
        for i in range(u16(self.data, base + 10)):
            e = base + 16 + 16 * i
            flags, pos, ksize, vsize = struct.unpack_from("<IIII", self.data, e)
            out.append((flags, e + pos, ksize, e + pos + ksize, vsize))
        return out

    def leaves(self, pgid):
        """Byte offsets of the leaf pages of the tree at `pgid`, in key order."""
        base = pgid * self.ps
        flags = u16(self.data, base + 8)
        if flags & BRANCH:
            out = []
            for i in range(u16(self.data, base + 10)):
                out += self.leaves(u64(self.data, base + 16 + 16 * i + 8))
            return out
        if flags & LEAF:
            return [base]
        raise SystemExit(f"{self.name}: page {pgid} is neither branch nor leaf")

    def tree_elements(self, pgid):
        return [e for base in self.leaves(pgid) for e in self.elements(base)]

    def buckets(self):
        """Top-level buckets in key order: (name, key offset, value offset)."""
        out = []
        for flags, koff, ksize, voff, _ in self.tree_elements(self.root):
            if flags & BUCKET_LEAF:
                out.append((self.data[koff : koff + ksize], koff, voff))
        return out

    def bucket_elements(self, name):
        for bname, _, voff in self.buckets():
            if bname != name:
                continue
            root = u64(self.data, voff)
            if root == 0:  # inline: the page follows the 16-byte bucket header
                return self.elements(voff + 16)
            return self.tree_elements(root)
        return None


def with_trailer(data):
    """Recomputes the SHA-256 trailer of a snapshot (size % 512 == 32)."""
    if len(data) % 512 == 32:
        data[-32:] = hashlib.sha256(bytes(data[:-32])).digest()
    return data


def bucket_name_mutant(db):
    """`key` (else the first bucket that allows it) renamed by its last byte + 1,
    still between its neighbours."""
    buckets = db.buckets()
    order = sorted(range(len(buckets)), key=lambda i: buckets[i][0] != KEY_BUCKET)
    for i in order:
        name, koff, _ = buckets[i]
        if not name or name[-1] == 0xFF:
            continue
        new = name[:-1] + bytes([name[-1] + 1])
        if i + 1 < len(buckets) and not new < buckets[i + 1][0]:
            continue
        data = bytearray(db.data)
        data[koff + len(name) - 1] = new[-1]
        return with_trailer(data), f"bucket {name.decode()!r} -> {new.decode()!r}"
    return None, "no bucket can be renamed in order"


def sub_revision_mutant(db):
    """The last 17-byte revision key of the `key` bucket whose successor (if
    any) has a larger main revision gets 2^32 added to its sub-revision:
    the order holds, and etcd never numbers a transaction's changes so far."""
    records = db.bucket_elements(KEY_BUCKET)
    if not records:
        return None, "no key bucket records"
    keys = [(koff, ksize) for _, koff, ksize, _, _ in records]
    for j in range(len(keys) - 1, -1, -1):
        koff, ksize = keys[j]
        if ksize != 17 or db.data[koff + 8] != ord("_"):
            continue
        main = struct.unpack_from(">Q", db.data, koff)[0]
        if j + 1 < len(keys):
            nxt = struct.unpack_from(">Q", db.data, keys[j + 1][0])[0]
            if nxt <= main:
                continue
        sub = struct.unpack_from(">Q", db.data, koff + 9)[0]
        data = bytearray(db.data)
        struct.pack_into(">Q", data, koff + 9, sub + (1 << 32))
        return with_trailer(data), f"revision {main}_{sub} -> {main}_{sub + (1 << 32)}"
    return None, "no 17-byte key can change its sub-revision in order"


def main(argv):
    check = "--check" in argv
    want = {}
    for name, rel in FIXTURE_BASES.items():
        want[name] = (FIXTURES / rel).read_bytes()
    for path in sorted(CORPUS.glob("*")):
        if "--" not in path.name and path.name not in want:
            want[path.name] = path.read_bytes()
    notes = []
    for name in sorted(list(want)):
        data = want[name]
        if len(data) > MAX_BASE_BYTES:
            raise SystemExit(f"{name}: {len(data)} bytes, more than {MAX_BASE_BYTES}")
        db = Db(data, name)
        stem = name[:-3] if name.endswith(".db") else name
        for kind, make in (("bucket-name", bucket_name_mutant), ("sub-revision", sub_revision_mutant)):
            mutant, what = make(db)
            notes.append(f"{stem}--{kind}: {what}")
            if mutant is not None:
                want[f"{stem}--{kind}.db"] = bytes(mutant)
    changed = []
    for path in sorted(CORPUS.glob("*")):
        if path.name not in want:
            changed.append(f"remove {path.name}")
            if not check:
                path.unlink()
    for name, data in sorted(want.items()):
        path = CORPUS / name
        if not path.exists() or path.read_bytes() != data:
            changed.append(f"write {name} ({len(data)} bytes)")
            if not check:
                path.write_bytes(data)
    for line in notes + changed:
        print(line)
    total = sum(len(d) for d in want.values())
    print(f"{len(want)} files, {total} bytes")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# Corpus bases made with etcd 3.4.23 (one member on 127.0.0.1, `etcdctl
# snapshot save` right after the writes):
#   etcd-empty.db  a fresh member, nothing written (no consistent_index yet)
#   etcd-auth.db   puts, a lease with a key, a delete; users root and alice,
#                  role reader (read /registry/ prefix), auth enabled
#   etcd-txn6.db   one txn of six 200-byte puts (sub-revisions 0..5): the
#                  key bucket has a leaf page of its own (not inline)
