#include <gtest/gtest.h>

#include "client/endpoint.h"

namespace cpr::client {
namespace {

TEST(ParseEndpoint, EtcdctlForms) {
  auto e = ParseEndpoint("127.0.0.1:2379", "--endpoints");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->scheme, Scheme::kNone);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 2379);
  EXPECT_EQ(e->Target(), "127.0.0.1:2379");
  EXPECT_EQ(e->text, "127.0.0.1:2379");

  e = ParseEndpoint("https://etcd-0.example.com:2379", "x");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->scheme, Scheme::kHttps);
  EXPECT_EQ(e->host, "etcd-0.example.com");

  e = ParseEndpoint("http://127.0.0.2:12379/", "x");  // a trailing path is ignored
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->scheme, Scheme::kHttp);
  EXPECT_EQ(e->Target(), "127.0.0.2:12379");

  e = ParseEndpoint("[::1]:2379", "x");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->Target(), "[::1]:2379");
}

TEST(ParseEndpoint, BadOnesNameTheFlag) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:23x",
        "unix://sock:1", "ftp://h:1", "::1:2379", "[::1:2379", "https://:2379"}) {
    auto e = ParseEndpoint(bad, "--endpoints");
    ASSERT_FALSE(e.has_value()) << bad;
    EXPECT_EQ(e.error().code, Code::kInvalidArgument);
    EXPECT_EQ(e.error().where, "--endpoints");
    EXPECT_NE(e.error().what.find(bad), std::string::npos);
  }
}

TEST(ParseEndpoints, CommaListSkipsBlanks) {
  auto l = ParseEndpoints(" 127.0.0.1:1, ,https://127.0.0.2:2,", "--endpoints");
  ASSERT_TRUE(l.has_value());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[1].scheme, Scheme::kHttps);
  EXPECT_FALSE(ParseEndpoints(" , ", "--endpoints").has_value());
  EXPECT_FALSE(ParseEndpoints("127.0.0.1:1,bad", "--endpoints").has_value());
}

TEST(Config, TlsRuleIsEtcdctls) {
  Config c;
  Endpoint bare = *ParseEndpoint("127.0.0.1:2379", "x");
  Endpoint http = *ParseEndpoint("http://127.0.0.1:2379", "x");
  Endpoint https = *ParseEndpoint("https://127.0.0.1:2379", "x");
  EXPECT_FALSE(c.UsesTls(bare));
  EXPECT_FALSE(c.UsesTls(http));
  EXPECT_TRUE(c.UsesTls(https));
  c.tls.cacert = "ca.crt";
  EXPECT_TRUE(c.UsesTls(bare));   // certificates given: TLS
  EXPECT_FALSE(c.UsesTls(http));  // http:// stays plaintext
  EXPECT_TRUE(c.UsesTls(https));
}

}  // namespace
}  // namespace cpr::client
