#include "pki/regenerate.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include "pki/cert.h"
#include "pki/inventory.h"
#include "pki/issue.h"
#include "pki/key.h"
#include "pki/lifetime.h"
#include "util/atomic_file.h"

namespace cpr::pki {
namespace fs = std::filesystem;

const char* RegenerateKindName(RegenerateKind kind) {
  switch (kind) {
    case RegenerateKind::kRenewCa:
      return "renew CA";
    case RegenerateKind::kRotateCa:
      return "rotate CA";
    case RegenerateKind::kReissue:
      return "reissue";
    case RegenerateKind::kNoIssuerKey:
      return "skipped: no CA key";
    case RegenerateKind::kNotTouched:
      return "skipped";
  }
  return "?";
}

namespace {

constexpr int64_t kDay = 86400;

struct Signer {
  std::string cert_path, key_path;
  Certificate cert;
  PrivateKey key;
  std::vector<Certificate> rest;  // other certificates in the CA file, kept
  // Planned:
  bool renew = false, rotate = false, unavailable = false;
  std::optional<Certificate> new_cert;
  std::optional<PrivateKey> new_key;
  const Certificate& IssuingCert() const { return new_cert ? *new_cert : cert; }
  const PrivateKey& IssuingKey() const { return new_key ? *new_key : key; }
  int64_t NotAfter() const { return IssuingCert().Info().not_after; }
};

Signer MakeSigner(std::string cert_path, std::string key_path, Certificate cert, PrivateKey key,
                  std::vector<Certificate> rest) {
  return Signer{std::move(cert_path),
                std::move(key_path),
                std::move(cert),
                std::move(key),
                std::move(rest),
                false,
                false,
                false,
                std::nullopt,
                std::nullopt};
}

// A file to write when the plan runs.
struct Write {
  std::string path;
  std::string content;
  mode_t mode;
};

std::string TimeReason(const CertInfo& info, int64_t now, int64_t warn) {
  if (now >= info.not_after) return "expired " + FormatLifetime(now - info.not_after) + " ago";
  if (now < info.not_before) return "not valid before " + FormatTimeUtc(info.not_before);
  if (info.not_after - now < warn) return "expires in " + FormatLifetime(info.not_after - now);
  return {};
}

int64_t Lifetime(const CertInfo& info, const std::optional<int64_t>& override) {
  if (override) return *override;
  return std::max<int64_t>(info.not_after - info.not_before, kDay);
}

mode_t ModeOf(const std::string& path, mode_t fallback) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fallback;
  return st.st_mode & 07777;
}

std::string Stamp(int64_t now) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

std::string AbsPath(const std::string& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  return (ec ? fs::path(p) : a).lexically_normal().string();
}

// Moves `path` into the backup tree (same relative layout, by absolute path).
Result<void> MoveAside(const std::string& path, const std::string& backup_root) {
  std::string abs = AbsPath(path);
  std::string rel = abs;
  while (!rel.empty() && rel.front() == '/') rel.erase(rel.begin());
  const std::string dest = backup_root + "/" + rel;
  CPR_RETURN_IF_ERROR(MakeDirs(DirName(dest), 0700));
  if (::link(abs.c_str(), dest.c_str()) != 0) {
    if (errno == EEXIST)
      return MakeError(Code::kFailedPrecondition, dest, "already exists in the backup folder");
    // Another filesystem (or no hard links): rename it there instead.
    if (::rename(abs.c_str(), dest.c_str()) != 0)
      return MakeError(Code::kIo, abs,
                       std::string("cannot move aside to ") + dest + ": " + std::strerror(errno));
    CPR_RETURN_IF_ERROR(FsyncDir(DirName(abs)));
  }
  return FsyncDir(DirName(dest));
}

}  // namespace

Result<RegenerateReport> Regenerate(const RegenerateOptions& o, bool dry_run) {
  RegenerateReport report;
  report.dry_run = dry_run;
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  Inventory inv = CPR_TRY(ScanPaths(o.paths));
  report.warnings = inv.warnings;

  // 1. Signers.
  std::vector<Signer> signers;
  if (!o.signers.empty()) {
    for (const auto& [crt, key] : o.signers) {
      auto certs = CPR_TRY(ReadCertificates(crt));
      PrivateKey k = CPR_TRY(ReadPrivateKey(key));
      if (!certs[0].MatchesKey(k))
        return MakeError(Code::kInvalidArgument, "--ca-key " + key, "does not match --ca " + crt);
      if (!certs[0].Info().is_ca)
        return MakeError(Code::kInvalidArgument, "--ca " + crt, "is not a CA certificate");
      signers.push_back(MakeSigner(crt, key, certs[0], k, {certs.begin() + 1, certs.end()}));
    }
  } else {
    for (const auto& f : inv.certs) {
      if (!f.cert || f.index != 0 || !f.source.empty() || !f.key || f.key_path == f.path) continue;
      if (!f.cert->Info().is_ca || !f.cert->MatchesKey(*f.key)) continue;
      auto all = ReadCertificates(f.path);
      std::vector<Certificate> rest;
      if (all) rest.assign(all->begin() + 1, all->end());
      signers.push_back(MakeSigner(f.path, f.key_path, *f.cert, *f.key, rest));
    }
  }
  std::set<std::string> signer_files;
  for (const auto& s : signers) signer_files.insert(AbsPath(s.cert_path));

  std::vector<Write> writes;

  // 2. Signers, parents before children (a root is its own parent).
  auto parent_of = [&](const Signer& s) -> Signer* {
    for (auto& p : signers)
      if (&p != &s && s.cert.IssuedBy(p.cert)) return &p;
    return nullptr;
  };
  auto depth = [&](const Signer& s) {
    int d = 0;
    for (const Signer* p = parent_of(s); p && d < 16; p = parent_of(*p)) d++;
    return d;
  };
  std::vector<Signer*> order;
  for (auto& s : signers) order.push_back(&s);
  std::stable_sort(order.begin(), order.end(),
                   [&](Signer* a, Signer* b) { return depth(*a) < depth(*b); });
  for (Signer* s : order) {
    CertInfo info = s->cert.Info();
    std::string reason = TimeReason(info, now, o.warn_seconds);
    Signer* parent = parent_of(*s);
    const bool self_signed = s->cert.IssuedBy(s->cert);
    if (!o.rotate_ca && reason.empty() && !(parent && parent->rotate)) continue;
    if (o.rotate_ca) reason = reason.empty() ? "--rotate-ca" : reason + "; --rotate-ca";
    if (parent && parent->rotate && reason.empty()) reason = "its CA gets a new key";
    RegenerateAction a;
    a.path = s->cert_path;
    a.key_path = s->key_path;
    a.subject = info.subject.ToString();
    a.old_not_after = info.not_after;
    a.reason = reason;
    if (!self_signed && !parent) {
      a.kind = RegenerateKind::kNoIssuerKey;
      a.reason += "; issued by '" + info.issuer.ToString() + "', whose key is not here";
      s->unavailable = true;
      report.actions.push_back(a);
      continue;
    }
    s->rotate = o.rotate_ca;
    s->renew = true;
    if (s->rotate) s->new_key = CPR_TRY(PrivateKey::GenerateLike(s->key.get()));
    const PrivateKey& subject_key = s->new_key ? *s->new_key : s->key;
    int64_t not_after = now + Lifetime(info, o.ca_validity);
    if (parent && parent->NotAfter() < not_after) {
      not_after = parent->NotAfter();
      a.reason += "; capped at its CA's expiry";
    }
    if (self_signed)
      s->new_cert = CPR_TRY(Reissue(s->cert, subject_key.get(), nullptr, subject_key,
                                    now - kBackdateSeconds, not_after));
    else
      s->new_cert = CPR_TRY(Reissue(s->cert, subject_key.get(), &parent->IssuingCert(),
                                    parent->IssuingKey(), now - kBackdateSeconds, not_after));
    a.kind = s->rotate ? RegenerateKind::kRotateCa : RegenerateKind::kRenewCa;
    a.new_not_after = not_after;
    a.new_key = s->rotate;
    a.issuer = self_signed ? s->cert_path : parent->cert_path;
    if (s->rotate) writes.push_back({s->key_path, s->new_key->ToPem(), 0600});
    report.actions.push_back(a);
  }
  // The signer files: a renewed CA's new certificate first (during a key
  // rotation the old one after it, so what it signed keeps verifying until
  // replaced; not once it expired); copies of renewed CAs kept in other
  // signer files (metric-ca.crt holds the etcd CA) are replaced as well.
  auto renewed_copy = [&](const Certificate& c) -> const Signer* {
    for (const auto& t : signers)
      if (t.new_cert && c.ToDer() == t.cert.ToDer()) return &t;
    return nullptr;
  };
  for (const auto& s : signers) {
    bool changed = s.new_cert.has_value();
    std::string content;
    if (s.new_cert) {
      content = s.new_cert->ToPem();
      if (s.rotate && now < s.cert.Info().not_after) content += s.cert.ToPem();
    } else {
      content = s.cert.ToPem();
    }
    for (const auto& r : s.rest) {
      if (const Signer* t = renewed_copy(r)) {
        changed = true;
        content += t->new_cert->ToPem();
        if (t->rotate && now < t->cert.Info().not_after) content += t->cert.ToPem();
        if (!s.new_cert)
          report.warnings.push_back("updated the copy of " + t->cert_path + " in " + s.cert_path);
      } else {
        content += r.ToPem();
      }
    }
    if (changed) writes.push_back({s.cert_path, content, ModeOf(s.cert_path, 0644)});
  }

  // 3. Everything else.
  for (const auto& f : inv.certs) {
    if (!f.cert) continue;
    if (f.source.empty() && f.index == 0 && signer_files.count(AbsPath(f.path))) continue;
    const CertInfo info = f.cert->Info();
    Signer* issuer = nullptr;
    for (auto& s : signers)
      if (f.cert->IssuedBy(s.cert)) {
        issuer = &s;
        break;
      }
    // A signer's own certificate found again (e.g. a copy in a bundle).
    bool is_signer_copy = false;
    for (auto& s : signers)
      if (f.cert->ToDer() == s.cert.ToDer()) is_signer_copy = true;
    std::string reason = TimeReason(info, now, o.warn_seconds);
    if (reason.empty() && issuer && issuer->rotate && !is_signer_copy)
      reason = "its CA gets a new key";
    if (reason.empty()) continue;
    RegenerateAction a;
    a.path = f.path;
    a.subject = info.subject.ToString();
    a.old_not_after = info.not_after;
    a.reason = reason;
    if (!f.source.empty()) {
      a.kind = RegenerateKind::kNotTouched;
      a.reason += "; inside a kubeconfig (" + f.source + "): renewed by the recovery procedures";
      report.actions.push_back(a);
      continue;
    }
    if (f.index != 0 && f.source.empty() && signer_files.count(AbsPath(f.path)) &&
        renewed_copy(*f.cert))
      continue;  // a copy in a signer file: replaced above
    if (f.index != 0 || is_signer_copy) {
      a.kind = RegenerateKind::kNotTouched;
      a.reason += fmt::format("; certificate {} of a bundle: update the bundle from its source",
                              f.index + 1);
      report.actions.push_back(a);
      continue;
    }
    if (!issuer || issuer->unavailable) {
      a.kind = RegenerateKind::kNoIssuerKey;
      a.reason += "; issuer '" + info.issuer.ToString() + "' has no key here";
      report.actions.push_back(a);
      continue;
    }
    a.kind = RegenerateKind::kReissue;
    a.issuer = issuer->cert_path;
    a.key_path = f.key_path;
    std::optional<PrivateKey> new_key;
    if (o.rotate_keys) {
      if (f.key_path.empty() || !f.key) {
        a.reason += "; no readable key beside it, key kept";
      } else {
        new_key = CPR_TRY(PrivateKey::GenerateLike(f.key->get()));
        a.new_key = true;
      }
    }
    EVP_PKEY* pub = new_key ? new_key->get() : X509_get0_pubkey(f.cert->get());
    int64_t not_after = now + Lifetime(info, o.leaf_validity);
    if (issuer->NotAfter() < not_after) {
      not_after = issuer->NotAfter();
      a.reason += "; capped at its CA's expiry";
    }
    Certificate nc = CPR_TRY(Reissue(*f.cert, pub, &issuer->IssuingCert(), issuer->IssuingKey(),
                                     now - kBackdateSeconds, not_after));
    a.new_not_after = not_after;
    // Keep the rest of the file: chain certificates, and the key when it
    // lives in the same file.
    std::string content = nc.ToPem();
    auto all = ReadCertificates(f.path);
    if (all)
      for (size_t i = 1; i < all->size(); i++) content += (*all)[i].ToPem();
    const bool combined = f.key_path == f.path;
    if (combined && f.key) content += (new_key ? *new_key : *f.key).ToPem();
    writes.push_back({f.path, content, combined ? mode_t{0600} : ModeOf(f.path, 0644)});
    if (new_key && !combined) writes.push_back({f.key_path, new_key->ToPem(), 0600});
    report.actions.push_back(a);
  }

  if (dry_run || writes.empty()) return report;

  // 4. Run: move each old file aside, then write the new one in its place.
  std::string backup = o.backup_dir;
  if (backup.empty()) {
    fs::path first = fs::path(AbsPath(o.paths.front()));
    if (!first.has_filename()) first = first.parent_path();
    backup = (first.parent_path() / (first.filename().string() + ".old-" + Stamp(now))).string();
  }
  if (fs::exists(backup) && !fs::is_empty(backup))
    return MakeError(Code::kFailedPrecondition, backup, "the backup folder exists and is not empty",
                     "pass another --backup-dir");
  CPR_RETURN_IF_ERROR(MakeDirs(backup, 0700));
  report.backup_dir = backup;
  for (const auto& w : writes) {
    CPR_RETURN_IF_ERROR(MoveAside(w.path, backup));
    CPR_RETURN_IF_ERROR(WriteFileAtomic(w.path, w.content, w.mode));
  }
  return report;
}

}  // namespace cpr::pki
