// Helpers for the pki and signer unit tests: a temporary directory, the
// openssl command line as an independent oracle, small file helpers.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "pki/cert.h"
#include "pki/issue.h"
#include "pki/key.h"

namespace cpr::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cpr-pki-test-XXXXXX";
    const char* p = ::mkdtemp(tmpl);
    path_ = p ? p : "/tmp/cpr-pki-test-failed";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct Run {
  int rc = -1;
  std::string out;  // stdout and stderr together
};

// Runs a shell command (2>&1) and returns its exit code and output.
inline Run Sh(const std::string& cmd) {
  Run r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

inline int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

struct Pair {
  pki::Certificate cert;
  pki::PrivateKey key;
};

// A self-signed CA valid from `from` to `to` (unix seconds).
inline Pair MakeCa(const std::string& cn, int64_t from, int64_t to) {
  auto key = pki::PrivateKey::Generate({});
  EXPECT_TRUE(key.has_value());
  pki::CertSpec spec;
  spec.subject = pki::Name::Of(cn);
  spec.is_ca = true;
  spec.not_before = from;
  spec.not_after = to;
  auto cert = pki::IssueSelfSigned(spec, *key);
  EXPECT_TRUE(cert.has_value()) << (cert ? "" : cert.error().ToString());
  return {*cert, *key};
}

inline Pair MakeLeaf(const Pair& ca, const std::string& cn, int64_t from, int64_t to,
                     std::vector<std::string> dns = {"m1", "localhost"},
                     std::vector<std::string> ips = {"10.0.0.1", "127.0.0.1"}) {
  auto key = pki::PrivateKey::Generate({});
  EXPECT_TRUE(key.has_value());
  pki::CertSpec spec;
  spec.subject = pki::Name::Of(cn, {"system:etcd-peers"});
  spec.dns_names = std::move(dns);
  spec.ip_addresses = std::move(ips);
  spec.ext_key_usages = {pki::kServerAuth, pki::kClientAuth};
  spec.not_before = from;
  spec.not_after = to;
  auto cert = pki::IssueSigned(spec, key->get(), ca.cert, ca.key);
  EXPECT_TRUE(cert.has_value()) << (cert ? "" : cert.error().ToString());
  return {*cert, *key};
}

inline void WritePair(const Pair& p, const std::string& crt, const std::string& key) {
  WriteAll(crt, p.cert.ToPem());
  WriteAll(key, p.key.ToPem());
  ::chmod(key.c_str(), 0600);
}

}  // namespace cpr::testing
