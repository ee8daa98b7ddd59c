#include "pki/etcd_pki.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <optional>

#include "pki/ca_pair.h"
#include "pki/cert.h"
#include "pki/issue.h"
#include "pki/lifetime.h"
#include "util/atomic_file.h"

namespace cpr::pki {

const ProfileInfo& GetProfile(Profile profile) {
  static const ProfileInfo kPeer{Profile::kPeer,
                                 "peer",
                                 "peer",
                                 "system:etcd-peer:",
                                 "system:etcd-peers",
                                 {kServerAuth, kClientAuth},
                                 false};
  static const ProfileInfo kServer{
      Profile::kServer,           "server", "server", "system:etcd-server:", "system:etcd-servers",
      {kServerAuth, kClientAuth}, false};
  static const ProfileInfo kMetrics{
      Profile::kMetrics,     "metrics",     "metric", "system:etcd-metric:",
      "system:etcd-metrics", {kServerAuth}, true};
  switch (profile) {
    case Profile::kPeer:
      return kPeer;
    case Profile::kServer:
      return kServer;
    case Profile::kMetrics:
      return kMetrics;
  }
  return kPeer;
}

Result<Profile> ParseProfile(std::string_view text, const std::string& where) {
  if (text == "peer") return Profile::kPeer;
  if (text == "server") return Profile::kServer;
  if (text == "metrics" || text == "metric") return Profile::kMetrics;
  return MakeError(Code::kInvalidArgument, where, fmt::format("unknown profile '{}'", text),
                   "use peer, server or metrics");
}

std::string ProfileCommonName(Profile profile, const std::string& host) {
  return GetProfile(profile).cn_prefix + host;
}

bool ValidHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alnum && c != '-') return false;
      if (c == '-' && label == 0) return false;
      if (++label > 63) return false;
    }
    prev = c;
  }
  return prev != '.' && prev != '-';
}

bool ValidIpAddress(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

Result<std::vector<Host>> ParseHosts(std::string_view text, const std::string& where) {
  std::vector<Host> hosts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return MakeError(Code::kInvalidArgument, where, fmt::format("'{}' is not NAME=IP", item),
                       "e.g. m1=10.0.0.1,m2=10.0.0.2");
    std::string name(item.substr(0, eq)), ip(item.substr(eq + 1));
    if (!ValidHostName(name))
      return MakeError(Code::kInvalidArgument, where, fmt::format("bad host name '{}'", name),
                       "letters, digits, '-' and '.', as in DNS");
    if (!ValidIpAddress(ip))
      return MakeError(Code::kInvalidArgument, where, fmt::format("bad IP address '{}'", ip));
    Host* h = nullptr;
    for (auto& e : hosts)
      if (e.name == name) h = &e;
    if (!h) {
      hosts.push_back({name, {}});
      h = &hosts.back();
    }
    if (std::find(h->ips.begin(), h->ips.end(), ip) == h->ips.end()) h->ips.push_back(ip);
  }
  if (hosts.empty()) return MakeError(Code::kInvalidArgument, where, "no host given");
  return hosts;
}

std::vector<std::string> HostDnsNames(const Host& host) {
  std::vector<std::string> out{host.name};
  if (host.name != "localhost") out.push_back("localhost");
  return out;
}

std::vector<std::string> HostIpAddresses(const Host& host) {
  std::vector<std::string> out = host.ips;
  if (std::find(out.begin(), out.end(), "127.0.0.1") == out.end()) out.push_back("127.0.0.1");
  return out;
}

std::string EtcdPkiPaths::LeafCert(const std::string& host, Profile p) const {
  return HostDir(host) + "/" + GetProfile(p).file_stem + ".crt";
}
std::string EtcdPkiPaths::LeafKey(const std::string& host, Profile p) const {
  return HostDir(host) + "/" + GetProfile(p).file_stem + ".key";
}

Result<void> ParseValidities(std::string_view text, const std::string& where, Validities& v) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      const int64_t d = CPR_TRY(ParseLifetime(item, where));
      v.peer = v.server = v.metric = v.admin = d;
      continue;
    }
    std::string_view kind = item.substr(0, eq);
    const int64_t d = CPR_TRY(ParseLifetime(item.substr(eq + 1), where));
    if (kind == "ca")
      v.ca = d;
    else if (kind == "metric-ca")
      v.metric_ca = d;
    else if (kind == "peer")
      v.peer = d;
    else if (kind == "server")
      v.server = d;
    else if (kind == "metric" || kind == "metrics")
      v.metric = d;
    else if (kind == "admin")
      v.admin = d;
    else
      return MakeError(Code::kInvalidArgument, where, fmt::format("unknown kind '{}'", kind),
                       "kinds: ca, metric-ca, peer, server, metric, admin");
  }
  return {};
}

namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

// An existing directory others may write into (a key or a CA certificate
// there could be swapped), or an existing key others may read: refused, not
// silently used. Symlinks are judged by what they point to.
Result<void> CheckExistingModes(const std::vector<std::string>& dirs,
                                const std::vector<std::string>& keys) {
  struct stat st;
  for (const auto& dir : dirs)
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 022))
      return MakeError(Code::kFailedPrecondition, dir,
                       fmt::format("exists with mode {:04o}: group or others may write into it",
                                   st.st_mode & 07777),
                       "check nothing in it was replaced, then chmod 700 it (or pick a new --dir)");
  for (const auto& key : keys)
    if (::stat(key.c_str(), &st) == 0 && (st.st_mode & 077))
      return MakeError(
          Code::kFailedPrecondition, key,
          fmt::format("exists with mode {:04o}: a private key others may read", st.st_mode & 07777),
          "if others could read it, treat it as leaked and start a new CA; otherwise "
          "chmod 600 it and run again");
  return {};
}

// The CA at crt/key: reused when both exist and match, created otherwise.
Result<std::optional<CaPair>> LoadExistingCa(const std::string& crt, const std::string& key) {
  const bool has_crt = Exists(crt), has_key = Exists(key);
  if (!has_crt && !has_key) return std::optional<CaPair>();
  if (has_crt != has_key)
    return MakeError(Code::kFailedPrecondition, has_crt ? key : crt,
                     "missing, but " + (has_crt ? crt : key) + " exists",
                     "restore the pair or move the lone file aside");
  auto certs = CPR_TRY(ReadCertificates(crt));
  PrivateKey k = CPR_TRY(ReadPrivateKey(key));
  if (!certs[0].MatchesKey(k))
    return MakeError(Code::kFailedPrecondition, key, "does not match " + crt);
  if (!certs[0].Info().is_ca)
    return MakeError(Code::kFailedPrecondition, crt, "is not a CA certificate (CA:FALSE)");
  return std::optional<CaPair>(CaPair{certs[0], k});
}

Result<CaPair> MakeOrReuseCa(const std::string& crt, const std::string& key, const char* cn,
                             const std::string& what, const KeySpec& key_spec, int64_t validity,
                             int64_t now, const std::optional<CaPair>& existing,
                             std::vector<InitFile>& out) {
  if (existing) {
    out.push_back({crt, what, existing->cert.Info().subject.CommonName(), false,
                   existing->cert.Info().not_after});
    return *existing;
  }
  PrivateKey k = CPR_TRY(PrivateKey::Generate(key_spec));
  CertSpec spec;
  spec.subject.entries = {{"OU", "openshift"}, {"CN", cn}};
  spec.is_ca = true;
  spec.not_before = now - kBackdateSeconds;
  spec.not_after = now + validity;
  Certificate c = CPR_TRY(IssueSelfSigned(spec, k));
  CPR_RETURN_IF_ERROR(WritePrivateKey(key, k));
  CPR_RETURN_IF_ERROR(WriteCertificates(crt, {c}));
  out.push_back({crt, what, cn, true, spec.not_after});
  return CaPair{c, k};
}

Result<std::vector<InitFile>> InitEtcdPki(const InitOptions& o) {
  if (o.dir.empty()) return MakeError(Code::kInvalidArgument, "--dir", "no directory given");
  if (o.hosts.empty()) return MakeError(Code::kInvalidArgument, "--hosts", "no host given");
  const int64_t now = o.now ? o.now : static_cast<int64_t>(std::time(nullptr));
  const EtcdPkiPaths paths{o.dir};

  // Refuse before writing anything.
  std::vector<std::string> leaves{paths.AdminCert(), paths.AdminKey()};
  for (const auto& h : o.hosts)
    for (Profile p : {Profile::kPeer, Profile::kServer, Profile::kMetrics}) {
      leaves.push_back(paths.LeafCert(h.name, p));
      leaves.push_back(paths.LeafKey(h.name, p));
    }
  std::vector<std::string> present;
  for (const auto& f : leaves)
    if (Exists(f) && f != paths.AdminCert() && f != paths.AdminKey()) present.push_back(f);
  if (!present.empty())
    return MakeError(Code::kFailedPrecondition, present.front(),
                     fmt::format("already exists ({} file(s) of this layout do)", present.size()),
                     "pki init never overwrites certificates or keys; move them aside or pick "
                     "hosts that are not there yet");
  std::vector<std::string> dirs{o.dir};
  for (const auto& h : o.hosts) dirs.push_back(paths.HostDir(h.name));
  CPR_RETURN_IF_ERROR(
      CheckExistingModes(dirs, {paths.CaKey(), paths.MetricCaKey(), paths.AdminKey()}));
  auto etcd_ca = CPR_TRY(LoadExistingCa(paths.CaCert(), paths.CaKey()));
  auto metric_ca = CPR_TRY(LoadExistingCa(paths.MetricCaCert(), paths.MetricCaKey()));
  const bool admin_exists = Exists(paths.AdminCert()) || Exists(paths.AdminKey());
  if (admin_exists && !(etcd_ca && Exists(paths.AdminCert()) && Exists(paths.AdminKey())))
    return MakeError(Code::kFailedPrecondition, paths.AdminCert(),
                     "an admin certificate or key exists without its CA pair");

  CPR_RETURN_IF_ERROR(MakeDirs(o.dir, 0700));
  std::vector<InitFile> out;

  auto make_ca = [&](const char* cn, int64_t validity, const std::string& crt,
                     const std::string& key, const char* what,
                     std::optional<CaPair>& existing) -> Result<CaPair> {
    return MakeOrReuseCa(crt, key, cn, what, o.key, validity, now, existing, out);
  };
  CaPair ca = CPR_TRY(
      make_ca(kEtcdCaName, o.validity.ca, paths.CaCert(), paths.CaKey(), "etcd CA", etcd_ca));
  CaPair mca = CPR_TRY(make_ca(kMetricCaName, o.validity.metric_ca, paths.MetricCaCert(),
                               paths.MetricCaKey(), "metrics CA", metric_ca));
  // metric-ca.crt: the metrics CA, then the etcd CA (see etcd_pki.h).
  if (!metric_ca) CPR_RETURN_IF_ERROR(WriteCertificates(paths.MetricCaCert(), {mca.cert, ca.cert}));

  auto leaf = [&](const CaPair& issuer, CertSpec spec, int64_t validity, const std::string& crt,
                  const std::string& key, std::string what) -> Result<void> {
    PrivateKey k = CPR_TRY(PrivateKey::Generate(o.key));
    spec.not_before = now - kBackdateSeconds;
    spec.not_after = now + validity;
    Certificate c = CPR_TRY(IssueSigned(spec, k.get(), issuer.cert, issuer.key));
    CPR_RETURN_IF_ERROR(WritePrivateKey(key, k));
    CPR_RETURN_IF_ERROR(WriteCertificates(crt, {c}));
    out.push_back({crt, std::move(what), spec.subject.CommonName(), true, spec.not_after});
    return {};
  };

  for (const auto& h : o.hosts) {
    CPR_RETURN_IF_ERROR(MakeDirs(paths.HostDir(h.name), 0700));
    for (Profile p : {Profile::kPeer, Profile::kServer, Profile::kMetrics}) {
      const ProfileInfo& info = GetProfile(p);
      CertSpec spec;
      spec.subject = Name::Of(ProfileCommonName(p, h.name), {info.organization});
      spec.dns_names = HostDnsNames(h);
      spec.ip_addresses = HostIpAddresses(h);
      spec.ext_key_usages = info.ext_key_usages;
      const int64_t validity = p == Profile::kPeer     ? o.validity.peer
                               : p == Profile::kServer ? o.validity.server
                                                       : o.validity.metric;
      CPR_RETURN_IF_ERROR(leaf(info.metric_ca ? mca : ca, spec, validity, paths.LeafCert(h.name, p),
                               paths.LeafKey(h.name, p),
                               fmt::format("{} certificate of {}", info.name, h.name)));
    }
  }
  if (!admin_exists) {
    CertSpec spec;
    spec.subject = Name::Of(kAdminName, {"system:etcd-admins"});
    spec.ext_key_usages = {kClientAuth};
    CPR_RETURN_IF_ERROR(leaf(ca, spec, o.validity.admin, paths.AdminCert(), paths.AdminKey(),
                             "admin client certificate"));
  }
  return out;
}

}  // namespace cpr::pki
