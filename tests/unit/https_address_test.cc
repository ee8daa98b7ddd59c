#include <gtest/gtest.h>

#include "https/address.h"

namespace cpr::https {
namespace {

TEST(ListenAddress, AcceptsAddressesAndNames) {
  auto a = ParseListen("127.0.0.51:9943");
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->host, "127.0.0.51");
  EXPECT_EQ(a->port, 9943);
  EXPECT_TRUE(a->is_ip);
  EXPECT_EQ(a->Url(), "https://127.0.0.51:9943");
  auto b = ParseListen("[::1]:443");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->Url(), "https://[::1]:443");
  // Canonical form.
  auto c = ParseListen("[0:0:0:0:0:0:0:1]:443");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  auto d = ParseListen("localhost:80");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->is_ip);
  auto e = ParseListen("[::ffff:127.0.0.1]:80");
  ASSERT_TRUE(e);
}

TEST(ListenAddress, RefusesEveryWildcardSpelling) {
  for (const char* w :
       {"0.0.0.0:9943", "[::]:9943", ":9943", "[]:9943", "0:9943", "0x0:9943", "[::0]:9943",
        "[::ffff:0.0.0.0]:9943", "[::0.0.0.0]:9943", "[0:0:0:0:0:0:0:0]:9943", "00:9943",
        "0.0:9943", "0x00000000:9943", "*:9943", "000.000.000.000:9943", "[::ffff:0:0]:9943"}) {
    auto r = ParseListen(w);
    EXPECT_FALSE(r) << w << " parsed as " << (r ? r->host : "");
  }
}

TEST(ListenAddress, RefusesDisguisedAndOddAddresses) {
  for (const char* w : {"127.1:9943", "0177.0.0.1:9943", "2130706433:9943", "224.0.0.1:9943",
                        "255.255.255.255:9943", "[ff02::1]:9943", "[fe80::1%eth0]:9943",
                        "[::ffff:224.0.0.1]:9943", "::1:9943", "[::1]", "127.0.0.1", "127.0.0.1:0",
                        "127.0.0.1:65536", "127.0.0.1:+80", "bad_name:80", "[127.0.0.1]:80"}) {
    auto r = ParseListen(w);
    EXPECT_FALSE(r) << w << " parsed as " << (r ? r->host : "");
  }
}

TEST(ListenAddress, ResolvesToCheckedAddresses) {
  auto a = ParseListen("127.0.0.51:9943");
  ASSERT_TRUE(a);
  auto r = ResolveListen(*a, "--listen");
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(FormatAddress((*r)[0].get()), "127.0.0.51:9943");
  EXPECT_EQ(FormatAddress((*r)[0].get(), false), "127.0.0.51");
  // A HostPort built by hand around the parser is still refused.
  HostPort wild{"0.0.0.0", 9943, true};
  EXPECT_FALSE(ResolveListen(wild, "--listen"));
  HostPort wild6{"::", 9943, true};
  EXPECT_FALSE(ResolveListen(wild6, "--listen"));
}

}  // namespace
}  // namespace cpr::https
