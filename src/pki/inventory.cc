#include "pki/inventory.h"

#include <fmt/format.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "pki/lifetime.h"
#include "pki/verify.h"
#include "util/atomic_file.h"
#include "util/text.h"

namespace cpr::pki {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxFile = 4u << 20;
constexpr std::string_view kCertMark = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kKeyMark = "PRIVATE KEY-----";

bool LooksLikeCertName(const std::string& path) {
  for (const char* ext : {".crt", ".pem", ".cert", ".cer"})
    if (path.size() >= std::strlen(ext) && path.ends_with(ext)) return true;
  return false;
}

// One base64 field of a kubeconfig ("name: data" in YAML, "name": "data" in JSON).
struct KubeField {
  std::string name;
  std::string data;
};

// Scans a kubeconfig's text for the three *-data fields, in file order.
// A tolerant scan rather than a YAML parse: pki/ depends on util/ only, and
// kubeconfigs put these fields one per line (YAML) or as JSON strings.
std::vector<KubeField> ScanKubeconfig(std::string_view text) {
  std::vector<KubeField> out;
  static const char* kNames[] = {"certificate-authority-data", "client-certificate-data",
                                 "client-key-data"};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos;
    const char* which = nullptr;
    for (const char* n : kNames) {
      size_t p = text.find(n, pos);
      if (p < best) {
        best = p;
        which = n;
      }
    }
    if (best == std::string_view::npos) break;
    size_t i = best + std::strlen(which);
    pos = i;
    // the name must stand alone: preceded by start, space, quote or '-'... and followed by [":]
    if (best > 0) {
      char b = text[best - 1];
      if (!(b == ' ' || b == '\t' || b == '\n' || b == '"' || b == '{' || b == ',')) continue;
    }
    if (i < text.size() && text[i] == '"') i++;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) i++;
    if (i >= text.size() || text[i] != ':') continue;
    i++;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) i++;
    if (i < text.size() && (text[i] == '"' || text[i] == '\'')) i++;
    size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) ||
                               text[i] == '+' || text[i] == '/' || text[i] == '='))
      i++;
    out.push_back({which, std::string(text.substr(start, i - start))});
    pos = i;
  }
  return out;
}

// The key file beside a certificate file, if any.
std::string KeyPathFor(const std::string& cert_path) {
  fs::path p(cert_path);
  const std::string stem = p.stem().string();
  const fs::path dir = p.parent_path();
  std::vector<fs::path> candidates{dir / (stem + ".key")};
  if (p.extension() == ".pem") candidates.push_back(dir / (stem + "-key.pem"));
  if (stem.ends_with(".crt"))
    candidates.push_back(dir / (stem.substr(0, stem.size() - 4) + ".key"));
  for (const auto& c : candidates) {
    std::error_code ec;
    if (c != p && fs::is_regular_file(c, ec)) return c.string();
  }
  return {};
}

void AttachKey(FoundCert& f, const std::string& key_path, const std::string& pem_or_empty) {
  f.key_path = key_path;
  if (!pem_or_empty.empty()) {
    auto k = PrivateKey::FromPem(pem_or_empty, key_path);
    if (k)
      f.key = *k;
    else
      f.key_error = k.error().ToString();
    return;
  }
  auto k = ReadPrivateKey(key_path);
  if (k)
    f.key = *k;
  else
    f.key_error = k.error().ToString();
}

void ScanFile(const std::string& path, Inventory& inv) {
  auto text = ReadFileLimited(path, kMaxFile);
  if (!text) {
    if (LooksLikeCertName(path)) {
      FoundCert f;
      f.path = path;
      f.error = text.error().what;
      inv.certs.push_back(std::move(f));
    } else if (text.error().code != Code::kInvalidArgument) {
      inv.warnings.push_back(text.error().ToString());
    }
    return;
  }
  const std::string& t = *text;
  if (t.find(kCertMark) != std::string::npos) {
    // Each block on its own, so one bad block does not hide the others.
    size_t pos = 0;
    int index = 0;
    while ((pos = t.find(kCertMark, pos)) != std::string::npos) {
      size_t end = t.find("-----END CERTIFICATE-----", pos);
      size_t stop = end == std::string::npos ? t.size() : end + 25;
      FoundCert f;
      f.path = path;
      f.index = index++;
      auto c = Certificate::FromPem(Bytes(t).substr(pos, stop - pos), path);
      if (c)
        f.cert = *c;
      else
        f.error = c.error().what;
      if (f.index == 0) {
        if (t.find(kKeyMark) != std::string::npos)
          AttachKey(f, path, t);
        else if (std::string kp = KeyPathFor(path); !kp.empty())
          AttachKey(f, kp, "");
      }
      inv.certs.push_back(std::move(f));
      pos = stop;
    }
    return;
  }
  if (t.find("certificate-authority-data") == std::string::npos &&
      t.find("client-certificate-data") == std::string::npos)
    return;
  // A kubeconfig: the n-th client certificate pairs with the n-th client key.
  std::vector<KubeField> fields = ScanKubeconfig(t);
  std::vector<std::string> keys;
  for (const auto& kf : fields)
    if (kf.name == "client-key-data") keys.push_back(kf.data);
  int n_ca = 0, n_client = 0;
  for (const auto& kf : fields) {
    if (kf.name == "client-key-data") continue;
    const bool client = kf.name == "client-certificate-data";
    const int nth = client ? n_client++ : n_ca++;
    const std::string source = fmt::format("kubeconfig {} #{}", kf.name, nth + 1);
    auto pem = Base64Decode(kf.data);
    if (!pem) {
      FoundCert f;
      f.path = path;
      f.source = source;
      f.error = "the base64 data does not decode";
      inv.certs.push_back(std::move(f));
      continue;
    }
    auto certs = Certificate::AllFromPem(*pem, path);
    if (!certs || certs->empty()) {
      FoundCert f;
      f.path = path;
      f.source = source;
      f.error = certs ? "no PEM certificate in the data" : certs.error().what;
      inv.certs.push_back(std::move(f));
      continue;
    }
    for (size_t i = 0; i < certs->size(); i++) {
      FoundCert f;
      f.path = path;
      f.source = source;
      f.index = static_cast<int>(i);
      f.cert = (*certs)[i];
      if (client && i == 0 && static_cast<size_t>(nth) < keys.size()) {
        auto key_pem = Base64Decode(keys[static_cast<size_t>(nth)]);
        f.key_path = path + " (client-key-data)";
        if (key_pem)
          AttachKey(f, f.key_path, *key_pem);
        else
          f.key_error = "client-key-data does not decode";
      }
      inv.certs.push_back(std::move(f));
    }
  }
}

}  // namespace

Result<Inventory> ScanPaths(const std::vector<std::string>& paths) {
  Inventory inv;
  if (paths.empty()) return MakeError(Code::kInvalidArgument, "paths", "no path given");
  for (const auto& root : paths) {
    std::error_code ec;
    fs::file_status st = fs::status(root, ec);
    if (ec || !fs::exists(st)) return MakeError(Code::kNotFound, root, "no such file or directory");
    if (!fs::is_directory(st)) {
      ScanFile(root, inv);
      continue;
    }
    std::vector<std::string> files;
    fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      inv.warnings.push_back(root + ": " + ec.message());
      continue;
    }
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) {
        inv.warnings.push_back(it->path().string() + ": " + ec.message());
        ec.clear();
        continue;
      }
      std::error_code fe;
      if (it->is_regular_file(fe)) files.push_back(it->path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) ScanFile(f, inv);
  }
  return inv;
}

const char* CertStatusName(CertStatus s) {
  switch (s) {
    case CertStatus::kValid:
      return "valid";
    case CertStatus::kExpiring:
      return "expiring";
    case CertStatus::kExpired:
      return "expired";
    case CertStatus::kNotYetValid:
      return "not yet valid";
    case CertStatus::kKeyMismatch:
      return "key mismatch";
    case CertStatus::kBrokenChain:
      return "broken chain";
    case CertStatus::kUnreadable:
      return "unreadable";
  }
  return "?";
}

bool IsFailing(CertStatus s) { return s != CertStatus::kValid && s != CertStatus::kExpiring; }

bool CheckReport::ok() const {
  for (const auto& [s, n] : counts)
    if (n > 0 && IsFailing(s)) return false;
  return true;
}

CheckReport Classify(const Inventory& inv, const std::vector<Certificate>& anchors,
                     int64_t warn_seconds, int64_t now) {
  CheckReport report;
  report.warnings = inv.warnings;
  // Every readable certificate, and where it came from, is a possible issuer.
  std::vector<std::pair<Certificate, std::string>> pool;
  for (const auto& a : anchors) pool.emplace_back(a, "--ca");
  std::vector<Certificate> all;
  for (const auto& f : inv.certs)
    if (f.cert) {
      pool.emplace_back(*f.cert, f.path);
      all.push_back(*f.cert);
    }
  for (const auto& f : inv.certs) {
    CheckedCert c;
    c.found = f;
    if (!f.cert) {
      c.status = CertStatus::kUnreadable;
      c.detail = f.error;
      report.certs.push_back(std::move(c));
      report.counts[CertStatus::kUnreadable]++;
      continue;
    }
    c.info = f.cert->Info();
    c.seconds_left = c.info.not_after - now;
    std::vector<std::string> problems;
    CertStatus status = CertStatus::kValid;
    auto worse = [&](CertStatus s) {
      if (static_cast<int>(s) > static_cast<int>(status)) status = s;
    };

    // Issuer: a certificate with the issuer's name whose key verifies the signature.
    bool name_seen = false;
    const Certificate* issuer = nullptr;
    for (const auto& [cand, where] : pool) {
      if (X509_NAME_cmp(X509_get_issuer_name(f.cert->get()), X509_get_subject_name(cand.get())) !=
          0)
        continue;
      name_seen = true;
      if (f.cert->IssuedBy(cand)) {
        issuer = &cand;
        c.issuer_path = where;
        break;
      }
    }
    if (issuer) {
      const bool self =
          issuer->get() == f.cert->get() || issuer->PublicKeyDer() == f.cert->PublicKeyDer();
      if (!self && !issuer->Info().is_ca) {
        worse(CertStatus::kBrokenChain);
        problems.push_back("issuer " + c.issuer_path + " is not a CA (CA:FALSE)");
      }
    } else if (name_seen) {
      worse(CertStatus::kBrokenChain);
      problems.push_back(fmt::format(
          "signature does not verify with any certificate named '{}' (a different CA with the "
          "same name)",
          c.info.issuer.ToString()));
    } else if (!anchors.empty()) {
      worse(CertStatus::kBrokenChain);
      problems.push_back(fmt::format("issuer '{}' is not among --ca or the checked files",
                                     c.info.issuer.ToString()));
    }
    if (!anchors.empty() && status != CertStatus::kBrokenChain) {
      auto v = VerifyChain(*f.cert, anchors, all);
      if (!v) {
        worse(CertStatus::kBrokenChain);
        problems.push_back("does not chain to --ca: " + v.error().what);
      }
    }
    if (!f.key_path.empty()) {
      if (f.key) {
        if (!f.cert->MatchesKey(*f.key)) {
          worse(CertStatus::kKeyMismatch);
          problems.push_back("key " + f.key_path + " does not match the certificate");
        }
      } else {
        problems.push_back("key " + f.key_path + " unreadable: " + f.key_error);
      }
    }
    if (now >= c.info.not_after) {
      worse(CertStatus::kExpired);
      problems.push_back(fmt::format("expired {} ago", FormatLifetime(now - c.info.not_after)));
    } else if (now < c.info.not_before) {
      worse(CertStatus::kNotYetValid);
      problems.push_back(fmt::format("valid only from {}", FormatTimeUtc(c.info.not_before)));
    } else if (c.info.not_after - now < warn_seconds) {
      worse(CertStatus::kExpiring);
      problems.push_back(fmt::format("expires in {}", FormatLifetime(c.info.not_after - now)));
    }
    if (issuer == nullptr && !name_seen && anchors.empty())
      problems.push_back("issuer not among the checked files");
    c.status = status;
    for (const auto& p : problems) c.detail += (c.detail.empty() ? "" : "; ") + p;
    report.counts[status]++;
    report.certs.push_back(std::move(c));
  }
  return report;
}

Result<CheckReport> CheckCertificates(const CheckOptions& o) {
  std::vector<Certificate> anchors;
  for (const auto& f : o.ca_files) {
    auto certs = CPR_TRY(ReadCertificates(f));
    anchors.insert(anchors.end(), certs.begin(), certs.end());
  }
  Inventory inv = CPR_TRY(ScanPaths(o.paths));
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  return Classify(inv, anchors, o.warn_seconds, now);
}

}  // namespace cpr::pki
