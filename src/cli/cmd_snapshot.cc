// `cpr snapshot status|verify|ls|get|history|diff`: offline commands on an
// etcd snapshot or bbolt db. Each turns flags into one library call and
// prints the result; the contract is docs/cli-snapshot.md.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>

#include "cli/command.h"
#include "cli/output.h"
#include "etcd/backend.h"
#include "etcd/hashkv.h"
#include "etcd/live_scan.h"
#include "etcd/mvcc.h"
#include "etcd/snapshot_file.h"
#include "etcd/status.h"
#include "etcd/verify.h"
#include "k8s/keys.h"
#include "k8s/value.h"
#include "util/text.h"

namespace cpr::cli {
namespace {

// Entries a live key scan holds in memory (etcd/live_scan.h); diff runs two.
constexpr uint64_t kScanBudget = 24ULL << 20;

struct Flags {
  std::string file, file_b, key, prefix, format = "table";
  int64_t rev = 0, rev_b = 0;  // diff: --rev for A, --rev-b for B
  int64_t limit = 0;
  bool keys_only = false;
  bool skip_hash_check = false;
  bool check_hash = false;
  bool exit_code = false;
};

Result<Format> FormatFlag(const Flags& f, bool allow_raw) {
  Format out;
  if (!ParseFormat(f.format, &out) || (out == Format::kRaw && !allow_raw))
    return MakeError(Code::kInvalidArgument, "-w",
                     fmt::format("unknown output format '{}'", f.format),
                     allow_raw ? "use table, json, yaml or raw" : "use table, json or yaml");
  return out;
}

// The `k8s` member of a record's JSON: what the key and value say of the
// Kubernetes object; null when they say nothing.
Json K8sJson(const etcd::Record& r) {
  k8s::Object o = k8s::DescribeIdentity(r.kv.value);
  k8s::KeyInfo ki = k8s::ParseKey(r.kv.key);
  const bool encrypted = o.encoding == k8s::Object::Encoding::kEncrypted;
  if (o.kind.empty() && !encrypted && ki.kind_hint.empty()) return nullptr;
  Json k;
  if (!o.api_version.empty()) k["apiVersion"] = o.api_version;
  k["kind"] = !o.kind.empty() ? o.kind : ki.kind_hint;
  k["namespace"] = !o.name.empty() ? o.namespace_ : ki.namespace_;
  k["name"] = !o.name.empty() ? o.name : ki.name;
  if (encrypted)
    k["encrypted"] = Json{{"provider", o.encryption_provider}, {"keyName", o.encryption_key_name}};
  return k;
}

// KIND, NAMESPACE, NAME cells for tables.
std::vector<std::string> K8sCells(const etcd::Record& r) {
  k8s::Object o = k8s::DescribeIdentity(r.kv.value);
  k8s::KeyInfo ki = k8s::ParseKey(r.kv.key);
  std::string kind = !o.kind.empty() ? o.kind : ki.kind_hint;
  if (o.encoding == k8s::Object::Encoding::kEncrypted)
    kind += " (encrypted " + o.encryption_provider + ")";
  return {Printable(kind), Printable(!o.name.empty() ? o.namespace_ : ki.namespace_),
          Printable(!o.name.empty() ? o.name : ki.name)};
}

void PrintYamlItem(std::ostream& out, const Json& item) {
  Json seq = Json::array({item});
  std::ostringstream s;
  PrintYaml(s, seq);
  std::string text = s.str();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out << "  " << text.substr(start, end - start) << '\n';
    start = end + 1;
  }
}

// Opens a file for a command that reads all of it, checking its SHA-256
// trailer on a second thread when asked (--check-hash).
struct OpenedSnapshot {
  std::unique_ptr<etcd::Backend> backend;
  std::unique_ptr<etcd::BackgroundTrailerCheck> trailer;
  Result<void> Finish() { return trailer ? trailer->Wait() : Result<void>(); }
  // Threads for a pass over the file: one while the trailer check takes the
  // other core (a third thread on two cores only makes the check end later).
  int PassThreads() const {
    return trailer && etcd::HasHashTrailer(backend->reader().file().size()) ? 1 : 2;
  }
};

Result<OpenedSnapshot> OpenWhole(const std::string& path, bool skip_hash_check,
                                 bool prefetch = true) {
  bolt::Reader::Options ro;
  ro.prefetch = prefetch;
  OpenedSnapshot s;
  s.backend = CPR_TRY(etcd::Backend::Open(path, ro));
  if (!skip_hash_check)
    s.trailer = std::make_unique<etcd::BackgroundTrailerCheck>(s.backend->reader().file());
  return s;
}

// ---- status ----------------------------------------------------------------

Json StatusJson(const etcd::Status& s) {
  Json j;
  j["hash"] = s.hash;
  j["revision"] = s.revision;
  j["totalKey"] = s.total_key;
  j["totalSize"] = s.total_size;
  j["version"] = s.cluster_version;
  j["pageSize"] = s.page_size;
  j["txid"] = s.txid;
  j["consistentIndex"] = s.consistent_index ? Json(*s.consistent_index) : Json(nullptr);
  j["compactRevision"] = s.compact_revision;
  j["scheduledCompactRevision"] = s.scheduled_compact_revision;
  j["liveKeys"] = s.live_keys ? Json(*s.live_keys) : Json(nullptr);
  j["leases"] = s.leases;
  j["authEnabled"] = s.auth.enabled;
  j["authUsers"] = s.auth.users.size();
  j["authRoles"] = s.auth.roles.size();
  j["hasHashTrailer"] = s.has_trailer;
  Json members = Json::array();
  for (const auto& m : s.members)
    members.push_back({{"ID", m.id},
                       {"name", m.name},
                       {"peerURLs", m.peer_urls},
                       {"clientURLs", m.client_urls},
                       {"isLearner", m.is_learner}});
  j["members"] = members;
  Json alarms = Json::array();
  for (const auto& a : s.alarms)
    alarms.push_back({{"memberID", a.member_id}, {"alarm", a.TypeName()}});
  j["alarms"] = alarms;
  Json buckets = Json::array();
  for (const auto& b : s.buckets)
    buckets.push_back(
        {{"name", b.name},
         {"keys", b.keys},
         {"bytes", b.bytes},
         {"inline", b.is_inline},
         {"pages",
          {{"branch", b.branch_pages}, {"leaf", b.leaf_pages}, {"overflow", b.overflow_pages}}}});
  j["buckets"] = buckets;
  const uint64_t total = s.total_size / std::max<uint32_t>(s.page_size, 1);
  j["pages"] = {{"total", total},
                {"branch", s.branch_pages},
                {"leaf", s.leaf_pages},
                {"overflow", s.overflow_pages},
                {"free", s.free_pages}};
  j["fill"] =
      s.tree_bytes ? static_cast<double>(s.used_bytes) / static_cast<double>(s.tree_bytes) : 0.0;
  return j;
}

Result<void> RunStatus(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, false));
  // Like etcdctl, status does not hash the file against its trailer: that
  // doubles its cost, and `verify` does it (with --check-hash, status does).
  // Status reads the file front to back itself (bolt/page_index.h): no prefetch.
  OpenedSnapshot snap = CPR_TRY(OpenWhole(f.file, !f.check_hash, /*prefetch=*/false));
  // Documents carry hashKV (below); the table does not.
  etcd::Status s =
      CPR_TRY(etcd::ComputeStatus(*snap.backend, {.with_hash_kv = format != Format::kTable}));
  CPR_RETURN_IF_ERROR(snap.Finish());
  // Status reads what is there; a bucket set etcd 3.4 would not write (one
  // renamed by a damaged byte: etcd boots without its records) is said on
  // stderr, and `verify` tells whether it is repairable.
  for (std::string_view b : etcd::kEtcdBuckets)
    if (std::none_of(s.buckets.begin(), s.buckets.end(),
                     [&](const auto& x) { return x.name == b; }))
      std::cerr << fmt::format("warning: bucket '{}' is missing: run `cpr snapshot verify`\n", b);
  for (const auto& x : s.buckets)
    if (std::find(std::begin(etcd::kEtcdBuckets), std::end(etcd::kEtcdBuckets), x.name) ==
        std::end(etcd::kEtcdBuckets))
      std::cerr << fmt::format(
          "warning: unknown bucket '{}' (etcd 3.4 never writes it): run `cpr snapshot verify`\n",
          Printable(x.name));
  if (format != Format::kTable) {
    Json j = StatusJson(s);
    // What `etcdctl endpoint hashkv` answers on a member restored from the
    // file (documents only). Status's pass tells it for most files; else a
    // second pass, on both cores (the trailer check is over).
    etcd::HashKv h;
    if (s.hash_kv) {
      h = *s.hash_kv;
    } else {
      etcd::HashKvOptions ho;
      ho.memory_budget = ReaderMemory(kScanBudget);
      h = CPR_TRY(etcd::ComputeHashKv(*snap.backend, 0, ho));
      if (!s.live_keys) j["liveKeys"] = h.live_keys;  // past status's budget: counted here
    }
    j["hashKV"] = {
        {"hash", h.hash}, {"revision", h.revision}, {"compact_revision", h.compact_revision}};
    format == Format::kJson ? PrintJson(std::cout, j) : PrintYaml(std::cout, j);
    return {};
  }
  // etcdctl's four fields; `-w simple` is etcdctl's one line of them alone.
  const std::vector<std::string> row = {fmt::format("{:x}", s.hash), std::to_string(s.revision),
                                        std::to_string(s.total_key), HumanizeBytes(s.total_size)};
  if (f.format == "simple") {
    std::cout << JoinList(row, ", ") << '\n';
    return {};
  }
  Table t({"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"}, Table::Align::kEtcdctl);
  t.Add(row);
  t.Print(std::cout);
  Table d({"FIELD", "VALUE"});
  d.Add({"cluster version", s.cluster_version.empty() ? "-" : s.cluster_version});
  d.Add({"consistent index", s.consistent_index ? std::to_string(*s.consistent_index) : "missing"});
  d.Add({"compacted revision", std::to_string(s.compact_revision)});
  d.Add({"live keys", s.live_keys ? std::to_string(*s.live_keys) : "too many to count"});
  d.Add({"leases", std::to_string(s.leases)});
  d.Add({"auth", s.auth.enabled ? fmt::format("enabled ({} users, {} roles)", s.auth.users.size(),
                                              s.auth.roles.size())
                                : "disabled"});
  d.Add({"hash trailer", !s.has_trailer ? "absent"
                         : f.check_hash
                             ? "present, SHA-256 matches"
                             : "present (not checked: `cpr snapshot verify` checks it)"});
  for (const auto& m : s.members)
    d.Add({"member " + etcd::MemberIdHex(m.id),
           fmt::format("{} {}{}", m.name.empty() ? "(unstarted)" : m.name,
                       m.peer_urls.empty() ? "" : m.peer_urls[0], m.is_learner ? " learner" : "")});
  for (const auto& a : s.alarms)
    d.Add({"alarm", a.TypeName() + " on member " + etcd::MemberIdHex(a.member_id)});
  d.Add({"page fill",
         fmt::format("{:.0f}%", s.tree_bytes ? 100.0 * s.used_bytes / s.tree_bytes : 0.0)});
  d.Print(std::cout);
  Table b({"BUCKET", "KEYS", "BYTES", "PAGES"});
  for (const auto& bs : s.buckets)
    b.Add({bs.name, std::to_string(bs.keys), HumanizeBytes(bs.bytes),
           bs.is_inline ? "inline"
                        : std::to_string(bs.branch_pages + bs.leaf_pages + bs.overflow_pages)});
  b.Print(std::cout);
  return {};
}

// ---- hashkv ----------------------------------------------------------------

// What `etcdctl endpoint hashkv --rev R` answers on a member restored from
// the file (etcd/hashkv.h), without starting one.
Result<void> RunHashKv(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, false));
  OpenedSnapshot snap = CPR_TRY(OpenWhole(f.file, !f.check_hash));
  etcd::HashKvOptions ho;
  ho.memory_budget = ReaderMemory(kScanBudget);
  ho.threads = snap.PassThreads();
  const etcd::HashKv h = CPR_TRY(etcd::ComputeHashKv(*snap.backend, f.rev, ho));
  CPR_RETURN_IF_ERROR(snap.Finish());
  // etcd's names: HashKVResponse {header.revision, hash, compact_revision}.
  const Json j{
      {"hash", h.hash}, {"revision", h.revision}, {"compact_revision", h.compact_revision}};
  if (format == Format::kJson) {
    PrintJson(std::cout, j);
  } else if (format == Format::kYaml) {
    PrintYaml(std::cout, j);
  } else {
    Table t({"FILE", "HASH", "HASHED AT", "REVISION", "COMPACT REVISION"}, Table::Align::kEtcdctl);
    t.Add({f.file, std::to_string(h.hash), std::to_string(h.hashed_revision),
           std::to_string(h.revision), std::to_string(h.compact_revision)});
    t.Print(std::cout);
  }
  return {};
}

// ---- verify ----------------------------------------------------------------

Result<bool> RunVerify(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, false));
  etcd::VerifyOptions opts;
  opts.skip_hash_check = f.skip_hash_check;
  auto verified = etcd::Verify(f.file, opts);
  if (!verified && format != Format::kTable) {
    // The file is not even bbolt: still one document, with the one fault.
    Json j{{"ok", false},
           {"file", f.file},
           {"faultCount", 1},
           {"faults", Json::array({{{"check", "bolt"}, {"what", verified.error().ToString()}}})}};
    format == Format::kJson ? PrintJson(std::cout, j) : PrintYaml(std::cout, j);
    std::cerr << "cpr: " << verified.error().ToString() << '\n';
    return false;
  }
  etcd::VerifyReport r = CPR_TRY(std::move(verified));
  if (format != Format::kTable) {
    Json j;
    j["ok"] = r.ok();
    j["file"] = f.file;
    j["trailer"] = {{"present", r.trailer_present},
                    {"checked", r.trailer_checked},
                    {"sha256", r.trailer_sha256}};
    j["pages"] = r.pages;
    j["revisions"] = r.revisions;
    j["revision"] = r.revision;
    j["faultCount"] = r.fault_count;
    j["repairableCount"] = r.repairable_count;
    Json faults = Json::array();
    for (const auto& fl : r.faults) {
      Json x{{"check", fl.check}, {"what", fl.what}, {"repairable", fl.repairable}};
      if (fl.page) x["page"] = fl.page;
      faults.push_back(x);
    }
    j["faults"] = faults;
    format == Format::kJson ? PrintJson(std::cout, j) : PrintYaml(std::cout, j);
    return r.ok();
  }
  if (r.ok()) {
    std::cout << "OK\n"
              << fmt::format("{}: {} pages, {} revisions up to {}, trailer {}\n", f.file, r.pages,
                             r.revisions, r.revision,
                             r.trailer_checked ? "SHA-256 matches"
                                               : (r.trailer_present ? "not checked" : "absent"));
    return true;
  }
  for (const auto& fl : r.faults)
    std::cout << fl.check << ": " << fl.what << (fl.repairable ? " [repairable]" : "") << '\n';
  if (r.fault_count > r.faults.size())
    std::cout << fmt::format("... and {} more\n", r.fault_count - r.faults.size());
  if (r.only_repairable())
    std::cout << fmt::format(
        "{} faults found, all repairable: only what bbolt derives from the records is wrong "
        "(`cpr snapshot restore --repair` rebuilds it); no record is damaged\n",
        r.fault_count);
  else if (r.repairable_count > 0)
    std::cout << fmt::format("{} faults found: {} in the data, {} repairable\n", r.fault_count,
                             r.data_faults(), r.repairable_count);
  else
    std::cout << fmt::format("{} faults found\n", r.fault_count);
  return false;
}

// ---- ls, get, history ------------------------------------------------------

// Notes: what ls and diff print of a record beyond its KeyValue fields,
// made while the file streams by, on the scan's threads (etcd/live_scan.h),
// so no record is read again in key order. For tables the KIND, NAMESPACE
// and NAME cells, each behind its length; for JSON the `k8s` member's text.
void PutCells(const etcd::Record& r, std::string& note) {
  for (const auto& cell : K8sCells(r)) {
    const auto n = static_cast<uint32_t>(cell.size());
    note.append(reinterpret_cast<const char*>(&n), sizeof n);
    note.append(cell);
  }
}

// The cells PutCells wrote, as views of the note ("" for any missing).
std::array<std::string_view, 3> GetCells(Bytes note) {
  std::array<std::string_view, 3> cells;
  uint32_t n = 0;
  for (size_t i = 0; i < cells.size() && note.size() >= sizeof n; i++) {
    std::memcpy(&n, note.data(), sizeof n);
    cells[i] = note.substr(sizeof n, n);
    note.remove_prefix(std::min<size_t>(note.size(), sizeof n + n));
  }
  return cells;
}

// A number's decimal digits in a buffer of the caller's (a cell of a
// many-row table: no allocation).
std::string_view Decimal(int64_t v, std::array<char, 24>& buf) {
  return {buf.data(), static_cast<size_t>(
                          std::to_chars(buf.data(), buf.data() + buf.size(), v).ptr - buf.data())};
}

// Printable(key) without a copy when the key is printable already.
std::string_view PrintableKey(Bytes key, std::string& hex) {
  if (IsPrintableAscii(key)) return key;
  hex = Printable(key);
  return hex;
}

void PutK8sJson(const etcd::Record& r, std::string& note) {
  if (Json k = K8sJson(r); !k.is_null())
    note = k.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// etcdctl's `get -w json` shape of one record (zero fields omitted, as
// protobuf's JSON does), plus `k8s` for Kubernetes objects, from a note
// (PutK8sJson). The one writer of that shape: KvJson parses its text.
// Keys and values are base64, which needs no escaping: nlohmann's
// serializer spent most of `ls -w json`'s time checking a 2 GB file's values
// for characters to escape.
struct KvText {
  Bytes key;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
  const Bytes* value = nullptr;  // none: keys only, or a tombstone
};
std::string KvJsonText(const KvText& kv, Bytes k8s_note) {
  std::string s = "{\"key\":\"";
  s.append(Base64Encode(kv.key)).push_back('"');
  if (kv.create_revision)
    s.append(",\"create_revision\":").append(std::to_string(kv.create_revision));
  s.append(",\"mod_revision\":").append(std::to_string(kv.mod_revision));
  if (kv.version) s.append(",\"version\":").append(std::to_string(kv.version));
  if (kv.value) s.append(",\"value\":\"").append(Base64Encode(*kv.value)).push_back('"');
  if (kv.lease) s.append(",\"lease\":").append(std::to_string(kv.lease));
  if (!k8s_note.empty()) s.append(",\"k8s\":").append(k8s_note);
  s.push_back('}');
  return s;
}

// A record's fields for KvJsonText (its views live as long as `r`).
KvText RecordKvText(const etcd::Record& r, bool with_value) {
  return {r.kv.key,   r.kv.create_revision,
          r.rev.main, r.kv.version,
          r.kv.lease, with_value && !r.rev.tombstone ? &r.kv.value : nullptr};
}

std::string RecordJsonText(const etcd::Record& r, bool with_value, bool with_k8s) {
  std::string k8s;
  if (with_k8s && !r.rev.tombstone) PutK8sJson(r, k8s);
  return KvJsonText(RecordKvText(r, with_value), k8s);
}

Json KvJson(const etcd::Record& r, bool with_value, bool with_k8s) {
  return Json::parse(RecordJsonText(r, with_value, with_k8s));
}

// KvJson(record, false, false) as text from a scan's entry, without reading
// the record.
std::string EntryJsonText(const etcd::LiveEntry& e) {
  return KvJsonText({e.key, e.create_revision, e.rev.main, e.version, e.lease, nullptr}, e.note);
}

// The live keys at `rev`, with the notes `format` prints from.
Result<std::unique_ptr<etcd::LiveScan>> ScanLive(const etcd::Backend& backend, int64_t rev,
                                                 const std::string& prefix, Format format,
                                                 uint64_t budget, int threads, bool crc_values) {
  etcd::LiveScanOptions o;
  o.revision = rev;
  o.prefix = prefix;
  o.crc_values = crc_values;
  if (format == Format::kTable) o.annotate = PutCells;
  if (format == Format::kJson) o.annotate = PutK8sJson;
  o.memory_budget = ReaderMemory(budget);
  o.threads = threads;
  return etcd::LiveScan::Start(backend, std::move(o));
}

// The trailer check (--check-hash) that output waits for: `wait` is called
// once everything is ready to print, so the check overlaps the merge, and a
// mismatch prints nothing: while a check runs, a table is laid out into a
// spool first. Without one it goes straight to stdout (no second copy of a
// large table through a temporary file).
struct TrailersOk {
  std::function<Result<void>()> wait;
  bool checking = false;
  Result<void> operator()() const { return wait(); }
};

// Where a table is laid out: stdout, or a spool while a check runs.
struct TableOut {
  explicit TableOut(const TrailersOk& t) : trailers(t) {}
  std::ostream& stream() { return trailers.checking ? spool.stream() : out.stream(); }
  Result<void> Commit() {
    CPR_RETURN_IF_ERROR(trailers());
    if (!trailers.checking) {
      out.Flush();
      return std::cout ? Result<void>() : MakeError(Code::kIo, "stdout", "write failed");
    }
    return spool.Commit(std::cout);
  }
  const TrailersOk& trailers;
  SpooledOutput spool;
  BufferedStdout out;
};

Result<void> LsTable(etcd::LiveScan& scan, int64_t rev, uint64_t limit,
                     const TrailersOk& trailers_ok) {
  Table t(
      {"KEY", "CREATE REV", "MOD REV", "VERSION", "LEASE", "SIZE", "KIND", "NAMESPACE", "NAME"});
  uint64_t n = 0;
  std::string hex;
  for (;;) {
    const etcd::LiveEntry* e = CPR_TRY(scan.Next());
    if (e == nullptr) break;
    if (n++ >= limit) continue;
    std::array<char, 24> create, mod, version, size;
    const std::string lease = e->lease ? fmt::format("{:x}", e->lease) : "-";
    const auto k = GetCells(e->note);
    const std::array<std::string_view, 9> row{PrintableKey(e->key, hex),
                                              Decimal(e->create_revision, create),
                                              Decimal(e->mod_revision, mod),
                                              Decimal(e->version, version),
                                              lease,
                                              Decimal(static_cast<int64_t>(e->value_size), size),
                                              k[0],
                                              k[1],
                                              k[2]};
    t.Add(row);
  }
  CPR_RETURN_IF_ERROR(t.status());
  // Laid out while the trailer check may still run (on a large file the
  // check, not the scan, ends last), printed once it passed.
  TableOut text(trailers_ok);
  t.Print(text.stream());
  text.stream() << fmt::format("{} keys at revision {}{}\n", n, rev,
                               limit < n ? fmt::format(" ({} shown)", limit) : "");
  CPR_RETURN_IF_ERROR(t.status());
  return text.Commit();
}

// Streamed: one element at a time, so a large file never sits in memory;
// spooled, so a record that fails half-way leaves no half document.
Result<void> LsDocument(const Flags& f, Format format, etcd::LiveScan& scan, int64_t rev,
                        uint64_t limit, const TrailersOk& trailers_ok) {
  SpooledOutput spool;
  std::ostream& out = spool.stream();
  if (format == Format::kJson) {
    out << "{\"header\":{\"revision\":" << rev << "},\"kvs\":[";
  } else {
    out << "header:\n  revision: " << rev << "\nkvs:\n";
  }
  uint64_t n = 0;
  for (;;) {
    const etcd::LiveEntry* e = CPR_TRY(scan.Next());
    if (e == nullptr) break;
    if (n++ >= limit) continue;
    if (format == Format::kJson) {
      if (n > 1) out << ',';
      if (f.keys_only) {
        out << EntryJsonText(*e);
      } else {
        out << KvJsonText(RecordKvText(CPR_TRY(scan.Read(*e)), true), e->note);
      }
    } else {
      PrintYamlItem(out, KvJson(CPR_TRY(scan.Read(*e)), !f.keys_only, true));
    }
  }
  if (format == Format::kJson) {
    out << "],\"count\":" << n << (limit < n ? ",\"more\":true" : "") << "}\n";
  } else {
    out << "count: " << n << (limit < n ? "\nmore: true" : "") << '\n';
  }
  CPR_RETURN_IF_ERROR(trailers_ok());
  return spool.Commit(std::cout);
}

Result<void> RunLs(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, false));
  if (f.limit < 0) return MakeError(Code::kInvalidArgument, "--limit", "must not be negative");
  // The scan reads the file front to back itself (bolt/page_index.h): no prefetch.
  OpenedSnapshot snap = CPR_TRY(OpenWhole(f.file, !f.check_hash, /*prefetch=*/false));
  const int64_t rev = CPR_TRY(etcd::ResolveRevision(*snap.backend, f.rev));
  auto scan =
      CPR_TRY(ScanLive(*snap.backend, rev, f.prefix, format, kScanBudget, snap.PassThreads(),
                       /*crc_values=*/false));
  const uint64_t limit = f.limit > 0 ? static_cast<uint64_t>(f.limit) : UINT64_MAX;
  const TrailersOk trailers_ok{[&] { return snap.Finish(); }, snap.trailer != nullptr};
  if (format == Format::kTable) return LsTable(*scan, rev, limit, trailers_ok);
  return LsDocument(f, format, *scan, rev, limit, trailers_ok);
}

Result<bool> RunGet(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, true));
  // get reads a few pages, not the file: no prefetch. With --check-hash
  // the trailer is checked (on a second thread): a value from a file whose
  // SHA-256 is wrong is not printed.
  OpenedSnapshot snap = CPR_TRY(OpenWhole(f.file, !f.check_hash, /*prefetch=*/false));
  const etcd::Backend& backend = *snap.backend;
  const int64_t rev = CPR_TRY(etcd::ResolveRevision(backend, f.rev));
  auto rec = CPR_TRY(etcd::GetKey(backend, f.key, rev));
  CPR_RETURN_IF_ERROR(snap.Finish());
  if (!rec) {
    std::cerr << fmt::format("cpr: {}: key {} not found at revision {}\n", f.file, Printable(f.key),
                             rev)
              << "  (`cpr snapshot history` lists every record of it still in the file)\n";
    return false;
  }
  switch (format) {
    case Format::kRaw:
      std::cout.write(rec->kv.value.data(), static_cast<std::streamsize>(rec->kv.value.size()));
      std::cout.flush();
      break;
    case Format::kJson:
      PrintJson(std::cout, Json{{"header", {{"revision", rev}}},
                                {"kvs", Json::array({KvJson(*rec, true, true)})},
                                {"count", 1}});
      break;
    case Format::kYaml:
      PrintYaml(std::cout, k8s::ValueDocument(rec->kv.value, rec->kv.mod_revision));
      break;
    case Format::kTable: {
      Table t({"KEY", "CREATE REV", "MOD REV", "VERSION", "LEASE", "SIZE", "KIND", "NAMESPACE",
               "NAME"});
      std::vector<std::string> row{Printable(rec->kv.key),
                                   std::to_string(rec->kv.create_revision),
                                   std::to_string(rec->kv.mod_revision),
                                   std::to_string(rec->kv.version),
                                   rec->kv.lease ? fmt::format("{:x}", rec->kv.lease) : "-",
                                   std::to_string(rec->kv.value.size())};
      for (auto& c : K8sCells(*rec)) row.push_back(std::move(c));
      t.Add(std::move(row));
      t.Print(std::cout);
      break;
    }
  }
  return true;
}

Result<bool> RunHistory(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, false));
  OpenedSnapshot snap = CPR_TRY(OpenWhole(f.file, !f.check_hash));
  std::vector<etcd::Record> records = CPR_TRY(etcd::History(*snap.backend, f.key));
  CPR_RETURN_IF_ERROR(snap.Finish());
  if (records.empty()) {
    std::cerr << fmt::format(
        "cpr: {}: no record of key {} in the file (never written, or compacted away)\n", f.file,
        Printable(f.key));
    return false;
  }
  if (format == Format::kTable) {
    Table t({"TYPE", "REVISION", "CREATE REV", "VERSION", "LEASE", "SIZE", "KIND"});
    for (const auto& r : records) {
      const bool del = r.rev.tombstone;
      t.Add({del ? "DELETE" : "PUT", fmt::format("{}_{}", r.rev.main, r.rev.sub),
             del ? "-" : std::to_string(r.kv.create_revision),
             del ? "-" : std::to_string(r.kv.version),
             r.kv.lease ? fmt::format("{:x}", r.kv.lease) : "-",
             del ? "-" : std::to_string(r.kv.value.size()), del ? "" : K8sCells(r)[0]});
    }
    t.Print(std::cout);
    return true;
  }
  Json events = Json::array();
  for (const auto& r : records)
    events.push_back({{"type", r.rev.tombstone ? "DELETE" : "PUT"},
                      {"revision", r.rev.main},
                      {"sub", r.rev.sub},
                      {"kv", KvJson(r, true, false)}});
  Json doc{{"key", Base64Encode(f.key)}, {"events", events}};
  format == Format::kJson ? PrintJson(std::cout, doc) : PrintYaml(std::cout, doc);
  return true;
}

// ---- diff ------------------------------------------------------------------

struct DiffCounts {
  uint64_t added = 0, removed = 0, changed = 0, unchanged = 0;
  Json Summary() const {
    return {{"added", added}, {"removed", removed}, {"changed", changed}, {"unchanged", unchanged}};
  }
};

Result<DiffCounts> DiffTable(etcd::LiveScan& a, etcd::LiveScan& b, const TrailersOk& trailers_ok) {
  Table t({"CHANGE", "KEY", "A MOD REV", "B MOD REV", "KIND", "NAMESPACE", "NAME"});
  DiffCounts n;
  std::string hex;
  std::array<char, 24> buf_a, buf_b;
  // A row of `e`, with A's and B's mod revisions (null: the key is absent).
  auto row = [&](std::string_view change, const etcd::LiveEntry& e, const etcd::LiveEntry* in_a,
                 const etcd::LiveEntry* in_b) -> Result<void> {
    const auto k = GetCells(e.note);
    const std::array<std::string_view, 7> cells{change,
                                                PrintableKey(e.key, hex),
                                                in_a ? Decimal(in_a->rev.main, buf_a) : "-",
                                                in_b ? Decimal(in_b->rev.main, buf_b) : "-",
                                                k[0],
                                                k[1],
                                                k[2]};
    t.Add(cells);
    return {};
  };
  etcd::DiffVisitor v{[&](const etcd::LiveEntry& e) {
                        n.added++;
                        return row("added", e, nullptr, &e);
                      },
                      [&](const etcd::LiveEntry& e) {
                        n.removed++;
                        return row("removed", e, &e, nullptr);
                      },
                      [&](const etcd::LiveEntry& ea, const etcd::LiveEntry& eb) {
                        n.changed++;
                        return row("changed", eb, &ea, &eb);
                      },
                      [&] { n.unchanged++; }};
  CPR_RETURN_IF_ERROR(etcd::Diff(a, b, v));
  CPR_RETURN_IF_ERROR(t.status());
  TableOut text(trailers_ok);
  t.Print(text.stream());  // before the trailer check ends (see LsTable)
  text.stream() << fmt::format("{} added, {} removed, {} changed, {} unchanged\n", n.added,
                               n.removed, n.changed, n.unchanged);
  CPR_RETURN_IF_ERROR(t.status());
  CPR_RETURN_IF_ERROR(text.Commit());
  return n;
}

// {added, removed, changed, summary} as one document; each list is streamed
// into its own spool, as the merge walk meets its items in key order.
Result<DiffCounts> DiffDocument(Format format, etcd::LiveScan& a, etcd::LiveScan& b,
                                const TrailersOk& trailers_ok) {
  constexpr size_t kListMemory = 2 << 20;
  SpooledOutput lists[3] = {SpooledOutput(kListMemory), SpooledOutput(kListMemory),
                            SpooledOutput(kListMemory)};
  DiffCounts n;
  // JSON items as text (RecordJsonText), YAML ones from their Json.
  const bool json = format == Format::kJson;
  auto add = [&](int list, uint64_t& count, const std::string& text, const Json& item) {
    std::ostream& out = lists[list].stream();
    if (json) {
      if (count > 0) out << ',';
      out << text;
    } else {
      PrintYamlItem(out, item);
    }
    count++;
  };
  // One side's record: its text for JSON, else its Json.
  auto side = [&](const etcd::Record& r, std::string& text, Json& item) {
    if (json) {
      text = RecordJsonText(r, true, true);
    } else {
      item = KvJson(r, true, true);
    }
  };
  std::string text, text_b;
  Json item, item_b;
  etcd::DiffVisitor v{[&](const etcd::LiveEntry& e) -> Result<void> {
                        side(CPR_TRY(b.Read(e)), text, item);
                        add(0, n.added, text, item);
                        return {};
                      },
                      [&](const etcd::LiveEntry& e) -> Result<void> {
                        side(CPR_TRY(a.Read(e)), text, item);
                        add(1, n.removed, text, item);
                        return {};
                      },
                      [&](const etcd::LiveEntry& ea, const etcd::LiveEntry& eb) -> Result<void> {
                        side(CPR_TRY(a.Read(ea)), text, item);
                        side(CPR_TRY(b.Read(eb)), text_b, item_b);
                        if (json) {
                          text = "{\"key\":\"" + Base64Encode(eb.key) + "\",\"a\":" + text +
                                 ",\"b\":" + text_b + "}";
                        } else {
                          item = Json{{"key", Base64Encode(eb.key)}, {"a", item}, {"b", item_b}};
                        }
                        add(2, n.changed, text, item);
                        return {};
                      },
                      [&] { n.unchanged++; }};
  CPR_RETURN_IF_ERROR(etcd::Diff(a, b, v));
  CPR_RETURN_IF_ERROR(trailers_ok());
  const char* names[3] = {"added", "removed", "changed"};
  const uint64_t counts[3] = {n.added, n.removed, n.changed};
  std::cout << (format == Format::kJson ? "{" : "");
  for (int i = 0; i < 3; i++) {
    if (format == Format::kJson) {
      std::cout << (i ? ",\"" : "\"") << names[i] << "\":[";
      CPR_RETURN_IF_ERROR(lists[i].Commit(std::cout));
      std::cout << ']';
    } else if (counts[i] == 0) {
      PrintYaml(std::cout, Json{{names[i], Json::array()}});
    } else {
      std::cout << names[i] << ":\n";
      CPR_RETURN_IF_ERROR(lists[i].Commit(std::cout));
    }
  }
  if (format == Format::kJson) {
    std::cout << ",\"summary\":" << n.Summary().dump() << "}\n";
  } else {
    PrintYaml(std::cout, Json{{"summary", n.Summary()}});
  }
  return n;
}

Result<bool> RunDiff(const Flags& f) {
  const Format format = CPR_TRY(FormatFlag(f, false));
  OpenedSnapshot snap_a = CPR_TRY(OpenWhole(f.file, !f.check_hash, /*prefetch=*/false));
  OpenedSnapshot snap_b = CPR_TRY(OpenWhole(f.file_b, !f.check_hash, /*prefetch=*/false));
  const etcd::Backend& a = *snap_a.backend;
  const etcd::Backend& b = *snap_b.backend;
  // JSON and YAML print whole records, read as needed: no notes.
  const Format notes = format == Format::kTable ? format : Format::kYaml;
  // Both revisions are checked before either scan starts.
  // ResolveRevision's errors name --rev; here the flag and the file too.
  auto resolve = [](const etcd::Backend& backend, int64_t rev,
                    const char* flag) -> Result<int64_t> {
    auto r = etcd::ResolveRevision(backend, rev);
    if (!r) {
      Error e = std::move(r).error();
      e.where = fmt::format("{} ({})", flag, backend.name());
      return e;
    }
    return r;
  };
  const int64_t rev_a = CPR_TRY(resolve(a, f.rev, "--rev"));
  const int64_t rev_b = CPR_TRY(resolve(b, f.rev_b, "--rev-b"));
  auto sa = CPR_TRY(ScanLive(a, rev_a, f.prefix, notes, kScanBudget / 2, snap_a.PassThreads(),
                             /*crc_values=*/true));
  auto sb = CPR_TRY(ScanLive(b, rev_b, f.prefix, notes, kScanBudget / 2, snap_b.PassThreads(),
                             /*crc_values=*/true));
  const TrailersOk trailers_ok{[&]() -> Result<void> {
                                 CPR_RETURN_IF_ERROR(snap_a.Finish());
                                 return snap_b.Finish();
                               },
                               snap_a.trailer != nullptr || snap_b.trailer != nullptr};
  const DiffCounts n = format == Format::kTable
                           ? CPR_TRY(DiffTable(*sa, *sb, trailers_ok))
                           : CPR_TRY(DiffDocument(format, *sa, *sb, trailers_ok));
  return !(f.exit_code && (n.added + n.removed + n.changed) > 0);
}

// Wraps a command body: prints its error, sets the exit code.
template <class Fn>
std::function<void()> Runner(RunState& state, Fn fn) {
  return [&state, fn] {
    auto r = fn();
    if (!r.has_value()) {
      state.exit_code = ReportError(r.error());
      return;
    }
    if constexpr (std::is_same_v<decltype(r), Result<bool>>) state.exit_code = *r ? 0 : 1;
  };
}

}  // namespace

void AddSnapshotCommand(CLI::App& app, RunState& state) {
  auto* snap = app.add_subcommand(
      "snapshot",
      "Inspect, verify, compare and restore etcd snapshot files offline (etcd may be down)");
  snap->require_subcommand(1);
  AddSnapshotRestore(*snap, state);
  static Flags f;  // one command runs per process
  auto output = [&](CLI::App* c, const char* help) { AddWriteOut(c, &f.format, help); };
  // The read-only inspectors follow etcdctl's `snapshot status`: the
  // SHA-256 trailer (a second full read of the file, 1.1 s at 2 GB) only on
  // request; `verify` and `restore` always check it. Page structure is
  // checked either way.
  auto check_hash = [&](CLI::App* c) {
    c->add_flag("--check-hash", f.check_hash,
                "Also check the SHA-256 trailer (on a second thread; a file that fails it "
                "prints nothing). `verify` and `restore` always check it");
    c->add_flag("--skip-hash-check", f.skip_hash_check,
                "Accepted and ignored: the trailer is only checked with --check-hash (kept for "
                "scripts written when it was checked by default)");
  };
  const char* kFile = "Snapshot file (etcdctl snapshot save) or a member's db (member/snap/db)";

  auto* status = snap->add_subcommand(
      "status",
      "Hash, revision, key count and size (as etcdctl), plus members, compaction, live keys");
  status->add_option("file", f.file, kFile)->required();
  check_hash(status);
  output(status, "Output format: table, json or yaml");
  status->callback(Runner(state, [] { return RunStatus(f); }));

  auto* verify = snap->add_subcommand(
      "verify",
      "Check the SHA-256 trailer, the bbolt structure and etcd's schema; list every fault");
  verify->add_option("file", f.file, kFile)->required();
  verify->add_flag(
      "--skip-hash-check", f.skip_hash_check,
      "Do not require or check the SHA-256 trailer (a db copied from a data dir has none)");
  output(verify, "Output format: table, json or yaml");
  verify->callback(Runner(state, [] { return RunVerify(f); }));

  auto* hashkv = snap->add_subcommand(
      "hashkv",
      "The hash `etcdctl endpoint hashkv --rev R` gives on a member restored from the file, "
      "computed offline");
  hashkv->add_option("file", f.file, kFile)->required();
  StrictInt(hashkv->add_option("--rev", f.rev,
                               "Revision to hash at (default: the store's current revision)"),
            0, INT64_MAX, "0 or no --rev: the current revision");
  check_hash(hashkv);
  output(hashkv, "Output format: table, json or yaml");
  hashkv->callback(Runner(state, [] { return RunHashKv(f); }));

  auto* ls = snap->add_subcommand("ls", "List the live keys at the newest revision or at --rev");
  ls->add_option("file", f.file, kFile)->required();
  ls->add_option("prefix", f.prefix, "Only keys starting with this prefix (default: all)");
  StrictInt(ls->add_option("--rev", f.rev, "Revision to list at (default: the newest in the file)"),
            1, INT64_MAX, "leave --rev out for the newest");
  StrictInt(ls->add_option("--limit", f.limit, "Show at most this many keys (0: all)"), 0);
  ls->add_flag("--keys-only", f.keys_only, "Leave values out of json/yaml output");
  check_hash(ls);
  output(ls, "Output format: table, json (etcdctl get -w json shape) or yaml");
  ls->callback(Runner(state, [] { return RunLs(f); }));

  auto* get =
      snap->add_subcommand("get", "Print one key's value at the newest revision or at --rev");
  get->add_option("file", f.file, kFile)->required();
  get->add_option("key", f.key, "The key")->required();
  StrictInt(
      get->add_option("--rev", f.rev, "Revision to read at (default: the newest in the file)"), 1,
      INT64_MAX, "leave --rev out for the newest");
  check_hash(get);
  output(get, "Output format: table, json, yaml (decoded Kubernetes object) or raw (exact bytes)");
  get->callback(Runner(state, [] { return RunGet(f); }));

  auto* history = snap->add_subcommand(
      "history", "Every revision of one key still in the file (puts and deletes), oldest first");
  history->add_option("file", f.file, kFile)->required();
  history->add_option("key", f.key, "The key")->required();
  check_hash(history);
  output(history, "Output format: table, json or yaml");
  history->callback(Runner(state, [] { return RunHistory(f); }));

  auto* diff = snap->add_subcommand(
      "diff",
      "Keys added, removed and changed from snapshot A to B; with --rev, from A as it was at an "
      "older revision (A and B may be the same file: what changed in it since R)");
  diff->add_option("a", f.file, "The older snapshot")->required();
  diff->add_option("b", f.file_b, "The newer snapshot")->required();
  diff->add_option("prefix", f.prefix, "Only keys starting with this prefix");
  StrictInt(diff->add_option("--rev", f.rev, "Read A at this revision (default: its newest)"), 1,
            INT64_MAX, "leave --rev out for the newest");
  StrictInt(diff->add_option("--rev-b", f.rev_b, "Read B at this revision (default: its newest)"),
            1, INT64_MAX, "leave --rev-b out for the newest");
  diff->add_flag("--exit-code", f.exit_code, "Exit 3 when the snapshots differ");
  check_hash(diff);
  output(diff, "Output format: table, json or yaml");
  diff->callback(Runner(state, [&state] {
    auto r = RunDiff(f);
    if (r.has_value() && !*r) state.exit_code = 3;
    return r.has_value() ? Result<void>() : Result<void>(std::move(r).error());
  }));
}

}  // namespace cpr::cli
