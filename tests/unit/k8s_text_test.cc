// Tests for k8s/text.h: UTF-8 checks, base64, RFC 3339 times.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "k8s/text.h"

namespace cpr::k8s {
namespace {

TEST(K8sUtf8Test, ValidSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xc3\xa9llo"));              // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xe6\x97\xa5\xe6\x9c\xac"));  // U+65E5 U+672C
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));          // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));          // U+10FFFF
  EXPECT_TRUE(IsValidUtf8(std::string("a\0b", 3)));      // NUL is valid UTF-8
}

TEST(K8sUtf8Test, InvalidSequences) {
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe6\x97"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xff"));
}

TEST(K8sUtf8Test, AgreesWithNlohmannOnRandomStrings) {
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

TEST(K8sUtf8Test, ReadableText) {
  EXPECT_TRUE(IsReadableText("a\tb\nc\r\n"));
  EXPECT_FALSE(IsReadableText(std::string("a\0b", 3)));
  EXPECT_FALSE(IsReadableText("\x1b[0m"));
  EXPECT_FALSE(IsReadableText("del\x7f"));
  EXPECT_FALSE(IsReadableText("\xff"));
}

TEST(K8sUtf8Test, ToValidUtf8ReplacesBadBytes) {
  EXPECT_EQ(ToValidUtf8("ok \xc3\xa9"), "ok \xc3\xa9");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(ToValidUtf8("\xe6\x97"), "\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(ToValidUtf8(""), "");
}

TEST(K8sBase64Test, Rfc4648Vectors) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("fo"), "Zm8=");
  EXPECT_EQ(Base64("foo"), "Zm9v");
  EXPECT_EQ(Base64("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64(std::string("\xfb\xff\x00", 3)), "+/8A");
}

TEST(K8sRfc3339Test, Formats) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1581336000), "2020-02-10T12:00:00Z");
  EXPECT_EQ(FormatRfc3339(1583063992), "2020-03-01T11:59:52Z");
  EXPECT_EQ(FormatRfc3339(951782400), "2000-02-29T00:00:00Z");  // leap day
  EXPECT_EQ(FormatRfc3339(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatRfc3339(-62135596800), "0001-01-01T00:00:00Z");  // Go's zero time
  EXPECT_EQ(FormatRfc3339(-62167219200), "0000-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(253402300799), "9999-12-31T23:59:59Z");
}

TEST(K8sRfc3339Test, OutOfRange) {
  EXPECT_EQ(FormatRfc3339(253402300800), "unix:253402300800");
  EXPECT_EQ(FormatRfc3339(-62167219201), "unix:-62167219201");
  EXPECT_EQ(FormatRfc3339(std::numeric_limits<int64_t>::min()), "unix:-9223372036854775808");
  EXPECT_EQ(FormatRfc3339(std::numeric_limits<int64_t>::max()), "unix:9223372036854775807");
}

}  // namespace
}  // namespace cpr::k8s
