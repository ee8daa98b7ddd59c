#include "host/etcd_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "util/text.h"

namespace cpr::host {
namespace {

std::string EnvName(std::string_view flag) {
  std::string out = "ETCD_";
  for (char c : flag) out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

bool IsKey(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// One value starting at text[at] (after the '='), read as the shell reads
// it; `at` is left on the newline that ends it. Returns what is wrong, ""
// when nothing is.
std::string ParseValue(std::string_view text, size_t& at, std::string& out) {
  char quote = 0;  // ' or " while inside quotes
  while (at < text.size()) {
    const char c = text[at];
    if (quote == '\'') {
      at++;
      if (c == '\'')
        quote = 0;
      else
        out += c;
      continue;
    }
    if (c == '\\' && at + 1 < text.size()) {
      const char n = text[at + 1];
      at += 2;
      if (n == '\n') continue;  // a continued line
      // Inside double quotes a backslash escapes only these.
      if (quote == '"' && std::string_view("\"\\$`").find(n) == std::string_view::npos) out += c;
      out += n;
      continue;
    }
    if (c == '$' || c == '`')
      return "$ or ` expansion is not supported: quote the value with '...'";
    at++;
    if (quote == '"') {
      if (c == '"')
        quote = 0;
      else
        out += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '\n') {
      at--;
      return "";
    } else if (c == ' ' || c == '\t') {
      // Whitespace ends an unquoted value: only a comment may follow.
      while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) at++;
      if (at < text.size() && text[at] != '\n' && text[at] != '#')
        return "an unquoted value with a space: quote it";
      while (at < text.size() && text[at] != '\n') at++;
      return "";
    } else {
      out += c;
    }
  }
  return quote != 0 ? "unclosed quote" : "";
}

}  // namespace

std::string EtcdSetting(const std::vector<std::string>& args, const EnvList& env,
                        std::string_view flag) {
  for (size_t i = 0; i < args.size(); i++) {
    for (const char* dashes : {"--", "-"}) {
      const std::string f = dashes + std::string(flag);
      if (args[i] == f && i + 1 < args.size()) return args[i + 1];
      if (args[i].rfind(f + "=", 0) == 0) return args[i].substr(f.size() + 1);
    }
  }
  return EnvValue(env, EnvName(flag));
}

MemberConfig EtcdMemberConfig(const std::vector<std::string>& args, const EnvList& env,
                              const std::string& source, const std::string& cwd) {
  auto get = [&](std::string_view flag) { return EtcdSetting(args, env, flag); };
  MemberConfig m;
  m.source = source;
  m.name = get("name");
  m.data_dir = get("data-dir");
  if (!cwd.empty()) {
    if (m.name.empty()) m.name = "default";
    if (m.data_dir.empty()) m.data_dir = m.name + ".etcd";
    if (m.data_dir[0] != '/') m.data_dir = cwd + (cwd.ends_with('/') ? "" : "/") + m.data_dir;
  }
  while (m.data_dir.size() > 1 && m.data_dir.back() == '/') m.data_dir.pop_back();
  const auto peers = SplitList(get("initial-advertise-peer-urls"));
  const auto clients = SplitList(get("advertise-client-urls"));
  m.peer_url = peers.empty() ? "" : peers[0];
  m.client_url = clients.empty() ? "" : clients[0];
  for (const char* f : {"listen-peer-urls", "listen-client-urls"})
    for (auto& u : SplitList(get(f))) m.listen_urls.push_back(std::move(u));
  m.trusted_ca_file = get("trusted-ca-file");
  m.cert_file = get("cert-file");
  m.key_file = get("key-file");
  return m;
}

Result<EnvList> ParseEnvironmentFile(std::string_view text, const std::string& where) {
  EnvList out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t start = at;
    auto bad = [&](const std::string& why) {
      const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(start), '\n');
      return MakeError(Code::kInvalidArgument, fmt::format("{} line {}", where, line), why,
                       "write KEY=value, KEY=\"value\" or KEY='value'");
    };
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) at++;
    if (at < text.size() && text[at] != '\n' && text[at] != '#' && text[at] != ';') {
      if (text.substr(at, 7) == "export ") at += 7;
      const size_t eq = std::min(text.find('=', at), text.size());
      const std::string_view key = text.substr(at, eq - at);
      if (eq == text.size() || !IsKey(key)) return bad("not KEY=value");
      at = eq + 1;
      std::string value;
      if (const std::string err = ParseValue(text, at, value); !err.empty()) return bad(err);
      out.emplace_back(std::string(key), std::move(value));
    }
    while (at < text.size() && text[at] != '\n') at++;  // a comment's rest
    at++;
  }
  return out;
}

EnvList EnvPairs(const std::vector<std::string>& kv) {
  EnvList out;
  for (const auto& s : kv) {
    const size_t eq = s.find('=');
    if (eq == std::string::npos)
      out.emplace_back(s, "");
    else
      out.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  return out;
}

std::string EnvValue(const EnvList& env, std::string_view key) {
  for (auto it = env.rbegin(); it != env.rend(); ++it)
    if (it->first == key) return it->second;
  return "";
}

}  // namespace cpr::host
