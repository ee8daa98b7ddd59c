// Tests for util/text.h: UTF-8 checks, base64, printable keys, sizes.
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "util/text.h"

namespace cpr {
namespace {

TEST(Utf8, ValidSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo"));              // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xe6\x97\xa5\xe6\x9c\xac"));  // U+65E5 U+672C
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));          // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));          // U+10FFFF
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));      // NUL is valid UTF-8
}

TEST(Utf8, InvalidSequences) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe6\x97"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(Utf8, AgreesWithNlohmannOnRandomStrings) {
  // nlohmann::json refuses to dump invalid UTF-8: our check must say the same.
  std::mt19937 rng(3);
  const char pieces[][5] = {"a",    "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80",
                            "\x80", "\xc0",     "\xed\xa0",     "\xf4\x90",
                            "\xff", "\xe0\xa0"};
  for (int round = 0; round < 3000; ++round) {
    std::string s;
    for (int k = rng() % 6; k > 0; --k) s += pieces[rng() % 10];
    bool dumps = true;
    try {
      (void)nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception&) {
      dumps = false;
    }
    EXPECT_EQ(IsValidUtf8(s), dumps) << testing::PrintToString(s);
    EXPECT_NO_THROW((void)nlohmann::json(ToValidUtf8(s)).dump());
  }
}

TEST(Utf8, ReadableText) {
  EXPECT_TRUE(IsReadableText("a\tb\nc\r\n"));
  EXPECT_FALSE(IsReadableText(std::string("a\0b", 3)));
  EXPECT_FALSE(IsReadableText("\x1b[0m"));
  EXPECT_FALSE(IsReadableText("del\x7f"));
  EXPECT_FALSE(IsReadableText("\xff"));
}

TEST(Utf8, ToValidUtf8ReplacesBadBytes) {
  EXPECT_EQ(ToValidUtf8("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(ToValidUtf8("\xe6\x97"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ToValidUtf8(""), "");
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff\x00", 3)), "+/8A");
}

TEST(Base64, DecodeRoundTrips) {
  std::mt19937 rng(7);
  for (int n = 0; n < 200; n++) {
    std::string s;
    for (int i = 0; i < n; i++) s.push_back(static_cast<char>(rng()));
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64Decode("abc"));
  EXPECT_FALSE(Base64Decode("ab=c"));
  EXPECT_FALSE(Base64Decode("a*cd"));
}

TEST(HumanizeBytes, AsEtcdctl) {
  // etcd-formats.md §4.2 examples.
  EXPECT_EQ(HumanizeBytes(20480), "20 kB");
  EXPECT_EQ(HumanizeBytes(512000), "512 kB");
  EXPECT_EQ(HumanizeBytes(1050), "1.1 kB");
  EXPECT_EQ(HumanizeBytes(315219968), "315 MB");
  EXPECT_EQ(HumanizeBytes(7), "7 B");
}

TEST(Printable, TextOrHex) {
  EXPECT_EQ(Printable("/registry/pods/a"), "/registry/pods/a");
  EXPECT_EQ(Printable(std::string("\x00\xff", 2)), "0x00ff");
}

TEST(ShellQuote, PlainWordsStayAndTheRestIsQuoted) {
  EXPECT_EQ(ShellQuote("m1"), "m1");
  EXPECT_EQ(ShellQuote("/var/lib/etcd"), "/var/lib/etcd");
  EXPECT_EQ(ShellQuote("m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380"),
            "m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a dir"), "'a dir'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$(rm -rf /)"), "'$(rm -rf /)'");
}

TEST(ParseInt64, StrictDecimal) {
  EXPECT_EQ(ParseInt64("0"), 0);
  EXPECT_EQ(ParseInt64("42"), 42);
  EXPECT_EQ(ParseInt64("-7"), -7);
  EXPECT_EQ(ParseInt64("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseInt64("-9223372036854775808"), INT64_MIN);
  for (const char* bad : {"", "-", "+5", " 5", "5 ", "0x10", "1e3", "9223372036854775808",
                          "18446744073709551616", "--5", "5-", "1_000"})
    EXPECT_FALSE(ParseInt64(bad).has_value()) << bad;
}

}  // namespace
TEST(Nearest, OffersTheCloseWordOnly) {
  const std::vector<std::string> commands = {"add", "list", "promote", "remove", "update"};
  EXPECT_EQ(Nearest("lst", commands), "list");       // a letter missing
  EXPECT_EQ(Nearest("remvoe", commands), "remove");  // two swapped
  EXPECT_EQ(Nearest("prom", commands), "promote");   // a prefix
  EXPECT_EQ(Nearest("xyz", commands), "");           // nothing near
  EXPECT_EQ(Nearest("", commands), "");
  EXPECT_EQ(Nearest("--endpont", {"--endpoints", "--cert", "--key"}), "--endpoints");
}

}  // namespace cpr
