#include "etcd/membership.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "util/hash.h"

namespace cpr::etcd {
namespace {

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// §5.1: only plain scheme://host:port, so Go's re-serialisation of the URL
// is the input itself and IDs match etcdctl's exactly.
Result<void> CheckUrl(const std::string& url, const std::string& flag) {
  const size_t sep = url.find("://");
  const auto bad = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument, flag, fmt::format("URL '{}': {}", url, why),
                     "write peer URLs as http://HOST:PORT");
  };
  if (sep == std::string::npos) return bad("no scheme");
  const std::string scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https" && scheme != "unix" && scheme != "unixs")
    return bad("scheme must be http, https, unix or unixs");
  const std::string host_port = url.substr(sep + 3);
  if (host_port.find_first_of("/?#@ ") != std::string::npos)
    return bad("only scheme://host:port is accepted (no path, query, user or spaces)");
  const size_t colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size())
    return bad("host must be host:port");
  const std::string port = host_port.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
      std::stoi(port) > 65535)
    return bad("port must be a number up to 65535");
  return {};
}

}  // namespace

uint64_t MemberIdFor(const std::vector<std::string>& sorted_peer_urls, const std::string& token) {
  std::string input;
  for (const auto& u : sorted_peer_urls) input += u;
  input += token;
  const Sha1Digest d = Sha1Of(input);
  return LoadBe64(reinterpret_cast<const char*>(d.data()));
}

uint64_t ClusterIdFor(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::string input(8 * ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); i++) StoreBe64(input.data() + 8 * i, ids[i]);
  const Sha1Digest d = Sha1Of(input);
  return LoadBe64(reinterpret_cast<const char*>(d.data()));
}

Result<Membership> ComputeMembership(const std::string& initial_cluster, const std::string& token,
                                     const std::string& name,
                                     const std::string& advertise_peer_urls) {
  // §5.1: split on ',', skip empty items, split at the first '='; a repeated
  // name adds URLs to that member.
  std::map<std::string, std::vector<std::string>> urls_by_name;
  std::vector<std::string> order;
  for (const auto& item : SplitComma(initial_cluster)) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      return MakeError(Code::kInvalidArgument, "--initial-cluster",
                       fmt::format("'{}' is not NAME=URL", item));
    const std::string n = item.substr(0, eq), url = Trim(item.substr(eq + 1));
    CPR_RETURN_IF_ERROR(CheckUrl(url, "--initial-cluster"));
    if (!urls_by_name.count(n)) order.push_back(n);
    urls_by_name[n].push_back(url);
  }
  if (urls_by_name.empty())
    return MakeError(Code::kInvalidArgument, "--initial-cluster", "no members given");
  std::set<std::string> seen_urls;
  Membership m;
  for (const auto& n : order) {
    ClusterMember cm{n, urls_by_name[n], 0};
    std::sort(cm.peer_urls.begin(), cm.peer_urls.end());
    for (const auto& u : cm.peer_urls)
      if (!seen_urls.insert(u).second)
        return MakeError(Code::kInvalidArgument, "--initial-cluster",
                         fmt::format("has duplicate url {}", u),
                         "every member needs its own peer URL");
    cm.id = MemberIdFor(cm.peer_urls, token);
    if (cm.id == 0)
      return MakeError(Code::kInvalidArgument, "--initial-cluster",
                       fmt::format("member {} hashes to ID 0", n));
    m.members.push_back(std::move(cm));
  }
  std::sort(m.members.begin(), m.members.end(),
            [](const ClusterMember& a, const ClusterMember& b) { return a.id < b.id; });
  for (size_t i = 1; i < m.members.size(); i++)
    if (m.members[i].id == m.members[i - 1].id)
      return MakeError(Code::kInvalidArgument, "--initial-cluster",
                       fmt::format("members {} and {} have the same ID", m.members[i - 1].name,
                                   m.members[i].name));
  auto me = std::find_if(m.members.begin(), m.members.end(),
                         [&](const ClusterMember& c) { return c.name == name; });
  if (me == m.members.end())
    return MakeError(Code::kInvalidArgument, "--name",
                     fmt::format("couldn't find local name \"{}\" in the initial cluster "
                                 "configuration",
                                 name),
                     "--initial-cluster must list NAME=URL for this member");
  m.local = static_cast<size_t>(me - m.members.begin());
  std::vector<std::string> advertised;
  for (const auto& u : SplitComma(advertise_peer_urls)) {
    CPR_RETURN_IF_ERROR(CheckUrl(Trim(u), "--initial-advertise-peer-urls"));
    advertised.push_back(Trim(u));
  }
  std::sort(advertised.begin(), advertised.end());
  if (advertised != me->peer_urls)
    return MakeError(Code::kInvalidArgument, "--initial-advertise-peer-urls",
                     fmt::format("{} does not match {}'s URLs in --initial-cluster ({})",
                                 advertise_peer_urls, name, fmt::join(me->peer_urls, ",")));
  std::vector<uint64_t> ids;
  for (const auto& c : m.members) ids.push_back(c.id);
  m.cluster_id = ClusterIdFor(ids);
  return m;
}

std::string GoJsonString(const std::string& s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '<':
          out += "\\u003c";
          break;
        case '>':
          out += "\\u003e";
          break;
        case '&':
          out += "\\u0026";
          break;
        default:
          if (c < 0x20) {
            out += fmt::format("\\u{:04x}", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      i++;
      continue;
    }
    // Multi-byte UTF-8: copied, except U+2028/U+2029 (escaped) and invalid
    // sequences (U+FFFD), as Go does.
    size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    bool valid = n != 0 && i + n <= s.size();
    for (size_t k = 1; valid && k < n; k++)
      valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (!valid) {
      out += "\\ufffd";
      i++;
      continue;
    }
    const std::string seq = s.substr(i, n);
    if (seq == "\xe2\x80\xa8") {
      out += "\\u2028";
    } else if (seq == "\xe2\x80\xa9") {
      out += "\\u2029";
    } else {
      out += seq;
    }
    i += n;
  }
  return out + "\"";
}

namespace {
std::string UrlList(const std::vector<std::string>& urls) {
  std::string out = "[";
  for (size_t i = 0; i < urls.size(); i++) out += (i ? "," : "") + GoJsonString(urls[i]);
  return out + "]";
}
}  // namespace

std::string MemberJson(const ClusterMember& m) {
  std::string out = fmt::format("{{\"id\":{},\"peerURLs\":{}", m.id, UrlList(m.peer_urls));
  if (!m.name.empty()) out += ",\"name\":" + GoJsonString(m.name);
  return out + "}";
}

std::string RaftAttributesJson(const ClusterMember& m) {
  return "{\"peerURLs\":" + UrlList(m.peer_urls) + "}";
}

}  // namespace cpr::etcd
