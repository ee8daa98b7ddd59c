// `cpr certs check|regenerate|request`: certificate inventory, offline
// renewal from the CA keys (seed §3.4), and a certificate from the
// temporary signer (the kube-client-agent analog).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/stat.h>

#include <cmath>
#include <iostream>

#include "cli/command.h"
#include "cli/output.h"
#include "pki/etcd_pki.h"
#include "pki/inventory.h"
#include "pki/lifetime.h"
#include "pki/regenerate.h"
#include "signer/client.h"
#include "util/atomic_file.h"

namespace cpr::cli {
namespace {

struct CertsFlags {
  std::vector<std::string> paths, ca_files, ca_keys, ips, dns;
  std::string warn = "30d", format = "table";
  // regenerate
  std::string validity, ca_validity, backup_dir;
  bool rotate_keys = false, rotate_ca = false, dry_run = false;
  // request
  std::string signer, token, profile = "peer", name, dir, cacert, kubeconfig, key_type = "ecdsa",
                             lifetime;
  int timeout = 30;
};

Result<Format> TableOrJson(const std::string& text) {
  Format f;
  if (!ParseFormat(text, &f) || f == Format::kRaw)
    return MakeError(Code::kInvalidArgument, "-w", "unknown output format '" + text + "'",
                     "use table, json or yaml");
  return f;
}

std::vector<std::string> DefaultPaths(const std::vector<std::string>& given) {
  if (!given.empty()) return given;
  std::vector<std::string> out;
  struct stat st;
  for (const char* p : {"/etc/kubernetes", "/etc/ssl/etcd"})
    if (::stat(p, &st) == 0) out.push_back(p);
  return out;
}

std::string Where(const pki::FoundCert& f) {
  std::string w = f.path;
  if (!f.source.empty()) w += " [" + f.source + "]";
  if (f.index > 0) w += fmt::format(" #{}", f.index + 1);
  return w;
}

int64_t DaysLeft(int64_t seconds) {
  return static_cast<int64_t>(std::floor(static_cast<double>(seconds) / 86400.0));
}

// ---- check ---------------------------------------------------------------------

Result<bool> RunCheck(const CertsFlags& f) {
  const Format format = CPR_TRY(TableOrJson(f.format));
  pki::CheckOptions o;
  o.paths = DefaultPaths(f.paths);
  if (o.paths.empty())
    return MakeError(Code::kInvalidArgument, "paths",
                     "no path given and neither /etc/kubernetes "
                     "nor /etc/ssl/etcd exists");
  o.ca_files = f.ca_files;
  o.warn_seconds = CPR_TRY(pki::ParseLifetime(f.warn, "--warn"));
  pki::CheckReport r = CPR_TRY(pki::CheckCertificates(o));

  std::vector<std::string> summary_parts;
  Json counts = Json::object();
  for (auto s : {pki::CertStatus::kValid, pki::CertStatus::kExpiring, pki::CertStatus::kExpired,
                 pki::CertStatus::kNotYetValid, pki::CertStatus::kKeyMismatch,
                 pki::CertStatus::kBrokenChain, pki::CertStatus::kUnreadable}) {
    const int n = r.counts.count(s) ? r.counts.at(s) : 0;
    counts[pki::CertStatusName(s)] = n;
    if (n > 0) summary_parts.push_back(fmt::format("{} {}", n, pki::CertStatusName(s)));
  }
  const std::string summary = fmt::format(
      "{} certificate(s): {}{}", r.certs.size(),
      summary_parts.empty() ? "none found" : fmt::format("{}", fmt::join(summary_parts, ", ")),
      r.ok() ? "" : " — FAILED");

  if (format != Format::kTable) {
    Json list = Json::array();
    for (const auto& c : r.certs) {
      Json j{{"path", c.found.path}};
      if (!c.found.source.empty()) j["source"] = c.found.source;
      j["index"] = c.found.index;
      j["status"] = pki::CertStatusName(c.status);
      if (!c.detail.empty()) j["detail"] = c.detail;
      if (c.found.cert) {
        j["subject"] = c.info.subject.ToString();
        j["issuer"] = c.info.issuer.ToString();
        j["dnsNames"] = c.info.dns_names;
        j["ipAddresses"] = c.info.ip_addresses;
        j["notBefore"] = pki::FormatTimeUtc(c.info.not_before);
        j["notAfter"] = pki::FormatTimeUtc(c.info.not_after);
        j["daysLeft"] = DaysLeft(c.seconds_left);
        j["serial"] = c.info.serial_hex;
        j["isCA"] = c.info.is_ca;
        j["extKeyUsage"] = c.info.ext_key_usages;
        j["key"] = c.info.key_description;
        if (!c.found.key_path.empty()) j["keyFile"] = c.found.key_path;
        if (!c.issuer_path.empty()) j["issuerFile"] = c.issuer_path;
      }
      list.push_back(std::move(j));
    }
    Json doc{{"certificates", list},
             {"summary", {{"total", r.certs.size()}, {"counts", counts}, {"ok", r.ok()}}},
             {"warnings", r.warnings}};
    format == Format::kJson ? PrintJson(std::cout, doc) : PrintYaml(std::cout, doc);
    return r.ok();
  }
  Table t({"FILE", "SUBJECT", "ISSUER", "SANS", "NOT AFTER", "DAYS LEFT", "STATUS"});
  for (const auto& c : r.certs) {
    if (!c.found.cert) {
      t.Add({Where(c.found), "-", "-", "-", "-", "-", pki::CertStatusName(c.status)});
      continue;
    }
    std::vector<std::string> sans = c.info.dns_names;
    sans.insert(sans.end(), c.info.ip_addresses.begin(), c.info.ip_addresses.end());
    std::string subject = c.info.subject.CommonName();
    if (subject.empty()) subject = c.info.subject.ToString();
    std::string issuer = c.info.issuer.CommonName();
    if (issuer.empty()) issuer = c.info.issuer.ToString();
    t.Add({Where(c.found), subject, issuer, fmt::format("{}", fmt::join(sans, ",")),
           pki::FormatTimeUtc(c.info.not_after), std::to_string(DaysLeft(c.seconds_left)),
           pki::CertStatusName(c.status)});
  }
  t.Print(std::cout);
  for (const auto& c : r.certs)
    if (c.status != pki::CertStatus::kValid)
      std::cout << fmt::format("{}: {}: {}\n", Where(c.found), pki::CertStatusName(c.status),
                               c.detail);
  for (const auto& w : r.warnings) std::cout << "warning: " << w << '\n';
  std::cout << summary << '\n';
  return r.ok();
}

// ---- regenerate ----------------------------------------------------------------

Result<void> RunRegenerate(const CertsFlags& f) {
  const Format format = CPR_TRY(TableOrJson(f.format));
  pki::RegenerateOptions o;
  o.paths = DefaultPaths(f.paths);
  if (o.paths.empty())
    return MakeError(Code::kInvalidArgument, "paths",
                     "no path given and neither /etc/kubernetes "
                     "nor /etc/ssl/etcd exists");
  if (f.ca_files.size() != f.ca_keys.size())
    return MakeError(Code::kInvalidArgument, "--ca/--ca-key",
                     fmt::format("{} --ca but {} --ca-key", f.ca_files.size(), f.ca_keys.size()),
                     "give them in pairs, one --ca-key after each --ca");
  for (size_t i = 0; i < f.ca_files.size(); i++)
    o.signers.emplace_back(f.ca_files[i], f.ca_keys[i]);
  o.warn_seconds = CPR_TRY(pki::ParseLifetime(f.warn, "--warn"));
  if (!f.validity.empty()) o.leaf_validity = CPR_TRY(pki::ParseLifetime(f.validity, "--validity"));
  if (!f.ca_validity.empty())
    o.ca_validity = CPR_TRY(pki::ParseLifetime(f.ca_validity, "--ca-validity"));
  o.rotate_keys = f.rotate_keys;
  o.rotate_ca = f.rotate_ca;
  o.backup_dir = f.backup_dir;
  pki::RegenerateReport r = CPR_TRY(pki::Regenerate(o, f.dry_run));

  int done = 0, skipped = 0;
  for (const auto& a : r.actions)
    (a.kind == pki::RegenerateKind::kNoIssuerKey || a.kind == pki::RegenerateKind::kNotTouched
         ? skipped
         : done)++;
  if (format != Format::kTable) {
    Json list = Json::array();
    for (const auto& a : r.actions) {
      Json j{{"action", pki::RegenerateKindName(a.kind)},
             {"path", a.path},
             {"subject", a.subject},
             {"reason", a.reason},
             {"oldNotAfter", pki::FormatTimeUtc(a.old_not_after)}};
      if (a.new_not_after) j["newNotAfter"] = pki::FormatTimeUtc(a.new_not_after);
      if (!a.key_path.empty()) j["keyFile"] = a.key_path;
      if (!a.issuer.empty()) j["issuerFile"] = a.issuer;
      j["newKey"] = a.new_key;
      list.push_back(std::move(j));
    }
    Json doc{{"dryRun", r.dry_run}, {"actions", list}, {"changed", done}, {"skipped", skipped}};
    if (!r.backup_dir.empty()) doc["backupDir"] = r.backup_dir;
    format == Format::kJson ? PrintJson(std::cout, doc) : PrintYaml(std::cout, doc);
    return {};
  }
  if (r.actions.empty()) {
    std::cout << "nothing to regenerate: no certificate is expired, expiring (within --warn "
              << f.warn << ") or not yet valid\n";
    return {};
  }
  Table t({"ACTION", "FILE", "SUBJECT", "OLD NOT AFTER", "NEW NOT AFTER", "REASON"});
  for (const auto& a : r.actions)
    t.Add({std::string(r.dry_run && a.new_not_after ? "would " : "") +
               pki::RegenerateKindName(a.kind),
           a.path, a.subject, pki::FormatTimeUtc(a.old_not_after),
           a.new_not_after ? pki::FormatTimeUtc(a.new_not_after) : "-", a.reason});
  t.Print(std::cout);
  for (const auto& w : r.warnings) std::cout << "warning: " << w << '\n';
  if (r.dry_run)
    std::cout << fmt::format(
        "dry run: {} certificate(s) would change, {} skipped; nothing written\n", done, skipped);
  else
    std::cout << fmt::format("{} certificate(s) changed, {} skipped; old files moved to {}\n", done,
                             skipped, r.backup_dir.empty() ? "(none changed)" : r.backup_dir);
  return {};
}

// ---- request -------------------------------------------------------------------

Result<void> RunRequest(const CertsFlags& f) {
  const Format format = CPR_TRY(TableOrJson(f.format));
  signer::RequestOptions o;
  if (!f.kubeconfig.empty()) {
    if (!f.signer.empty() || !f.token.empty() || !f.cacert.empty())
      return MakeError(Code::kInvalidArgument, "--kubeconfig",
                       "replaces --signer, --token and --cacert; give one or the other");
    signer::RecoveryConfig rc = CPR_TRY(signer::LoadRecoveryConfig(f.kubeconfig));
    o.signer_url = rc.server;
    o.token = rc.token;
    o.ca_pem = rc.ca_pem;
  } else {
    if (f.signer.empty() || f.token.empty() || f.cacert.empty())
      return MakeError(Code::kInvalidArgument, "--signer/--token/--cacert",
                       "all three are required (or --kubeconfig)");
    o.signer_url = f.signer;
    o.token = f.token;
    o.ca_pem = CPR_TRY(ReadFileLimited(f.cacert, 1u << 20));
  }
  o.profile = CPR_TRY(pki::ParseProfile(f.profile, "--profile"));
  o.name = f.name;
  o.ips = f.ips;
  o.dns = f.dns;
  o.out_dir = f.dir;
  o.key = CPR_TRY(pki::ParseKeySpec(f.key_type, "--key-type"));
  if (!f.lifetime.empty()) o.lifetime = CPR_TRY(pki::ParseLifetime(f.lifetime, "--lifetime"));
  o.timeout_seconds = f.timeout;
  signer::RequestResult r = CPR_TRY(signer::RequestCertificate(o));
  if (format != Format::kTable) {
    Json doc{{"certificate", r.cert_path},
             {"key", r.key_path},
             {"ca", r.ca_path},
             {"subject", r.info.subject.ToString()},
             {"dnsNames", r.info.dns_names},
             {"ipAddresses", r.info.ip_addresses},
             {"notAfter", pki::FormatTimeUtc(r.info.not_after)},
             {"serial", r.info.serial_hex}};
    format == Format::kJson ? PrintJson(std::cout, doc) : PrintYaml(std::cout, doc);
    return {};
  }
  std::cout << fmt::format(
      "{} issued until {} (SANs {}{}{})\n  certificate {}\n  key         {} "
      "(0600)\n  CA          {}\n",
      r.info.subject.CommonName(), pki::FormatTimeUtc(r.info.not_after),
      fmt::join(r.info.dns_names, ","), r.info.ip_addresses.empty() ? "" : ",",
      fmt::join(r.info.ip_addresses, ","), r.cert_path, r.key_path, r.ca_path);
  return {};
}

}  // namespace

void AddCertsCommand(CLI::App& app, RunState& state) {
  auto* certs = app.add_subcommand(
      "certs",
      "Check, regenerate and request certificates (works offline, as root on a dead master)");
  certs->require_subcommand(1);
  static CertsFlags f;
  auto output = [&](CLI::App* c) {
    AddWriteOut(c, &f.format, "Output format: table, json or yaml");
  };

  auto* check = certs->add_subcommand(
      "check",
      "List every certificate under the paths (PEM files and kubeconfig data): subject, issuer, "
      "SANs, validity, days left, status (valid, expiring, expired, not yet valid, key mismatch, "
      "broken chain, unreadable). Exit 1 when any is expired, not yet valid, broken or "
      "unreadable.");
  check->add_option("paths", f.paths,
                    "Files or directories (default: /etc/kubernetes and /etc/ssl/etcd)");
  check
      ->add_option("--ca", f.ca_files,
                   "Trusted CA file (repeatable): every certificate must chain to one")
      ->allow_extra_args(false);
  check->add_option("--warn", f.warn, "Report certificates expiring within this time")
      ->capture_default_str();
  output(check);
  check->callback([&state] {
    auto r = RunCheck(f);
    state.exit_code = r ? (*r ? 0 : 1) : ReportError(r.error());
  });

  auto* regen = certs->add_subcommand(
      "regenerate",
      "Re-issue expired or expiring certificates from the CA keys on this host: same subject, "
      "SANs and usages, new serial and validity; keys kept unless --rotate-keys. An expiring CA "
      "is renewed with the same key (its leaves keep verifying); --rotate-ca gives it a new key "
      "and re-issues its leaves, the CA file becoming a bundle of new and old. Old files are "
      "moved into a timestamped folder next to the first path. Certificates whose issuer key is "
      "not here, and those in kubeconfigs, are reported, not touched.");
  regen->add_option("paths", f.paths,
                    "Files or directories (default: /etc/kubernetes and /etc/ssl/etcd)");
  regen
      ->add_option("--ca", f.ca_files,
                   "A signer's CA certificate (repeatable, paired with --ca-key; default: "
                   "every CA under the paths whose key lies beside it)")
      ->allow_extra_args(false);
  regen->add_option("--ca-key", f.ca_keys, "The key of the preceding --ca")
      ->allow_extra_args(false);
  regen->add_option("--warn", f.warn, "Renew certificates expiring within this time")
      ->capture_default_str();
  regen->add_option(
      "--validity", f.validity,
      "Lifetime of re-issued leaves (default: each one's former lifetime, at least 1d)");
  regen->add_option("--ca-validity", f.ca_validity,
                    "Lifetime of renewed CAs (default: each one's former lifetime)");
  regen->add_flag("--rotate-keys", f.rotate_keys, "New keys for re-issued leaves");
  regen->add_flag("--rotate-ca", f.rotate_ca,
                  "New keys for the signer CAs (and re-issue all their leaves)");
  regen->add_flag("--dry-run", f.dry_run, "Print what would change; write nothing");
  regen->add_option("--backup-dir", f.backup_dir,
                    "Where old files go (default: <first path>.old-<UTC stamp> beside it)");
  output(regen);
  regen->callback([&state] {
    auto r = RunRegenerate(f);
    if (!r) state.exit_code = ReportError(r.error());
  });

  auto* req = certs->add_subcommand(
      "request",
      "Get a certificate from `cpr signer serve`: makes the key and CSR here (the key never "
      "leaves the host), sends the CSR with the one-time token, verifies the answer against the "
      "pinned CA, writes DIR/<peer|server|metric>.{crt,key} (key 0600) and the CA.");
  req->add_option("--signer", f.signer, "The signer's URL, https://ADDR:PORT");
  req->add_option("--token", f.token, "The one-time token from `cpr signer token`")
      ->envname("CPR_SIGNER_TOKEN");
  req->add_option("--cacert", f.cacert, "CA file to pin (the signer's ca.crt)");
  req->add_option("--kubeconfig", f.kubeconfig,
                  "Recovery kubeconfig from `cpr signer token --kubeconfig` (server, CA, token)");
  req->add_option("--profile", f.profile, "peer, server or metrics")->capture_default_str();
  req->add_option("--name", f.name, "This host's name (the token's host)")->required();
  req->add_option("--ip", f.ips, "This host's IP address (repeatable)")->allow_extra_args(false);
  req->add_option("--dns", f.dns, "Extra DNS SAN the signer allows (its --dns list)")
      ->allow_extra_args(false);
  req->add_option("--dir", f.dir, "Output directory (created 0700)")->required();
  req->add_option("--key-type", f.key_type, "ecdsa (P-256), rsa, rsa:3072, rsa:4096")
      ->capture_default_str();
  req->add_option("--lifetime", f.lifetime, "Ask for a shorter lifetime than the signer's bound");
  StrictInt(req->add_option("--timeout", f.timeout, "Seconds to wait for the signer"), 1, 86400)
      ->capture_default_str();
  output(req);
  req->callback([&state] {
    auto r = RunRequest(f);
    if (!r) state.exit_code = ReportError(r.error());
  });
}

}  // namespace cpr::cli
