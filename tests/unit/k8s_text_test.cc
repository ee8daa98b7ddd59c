// Tests for k8s/text.h: RFC 3339 times.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "k8s/text.h"

namespace cpr::k8s {
namespace {

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
