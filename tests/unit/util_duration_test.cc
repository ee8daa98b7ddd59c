#include <gtest/gtest.h>

#include "util/duration.h"

namespace cpr {
namespace {

using std::chrono::nanoseconds;

int64_t Ns(const char* text) {
  auto r = ParseGoDuration(text, "--flag");
  EXPECT_TRUE(r.has_value()) << text << ": " << (r ? "" : r.error().ToString());
  return r ? r->count() : -999;
}

TEST(ParseGoDuration, UnitsAsGo) {
  EXPECT_EQ(Ns("0"), 0);
  EXPECT_EQ(Ns("2s"), 2000000000);
  EXPECT_EQ(Ns("500ms"), 500000000);
  EXPECT_EQ(Ns("1m30s"), 90000000000);
  EXPECT_EQ(Ns("1.5h"), 5400000000000);
  EXPECT_EQ(Ns("10us"), 10000);
  EXPECT_EQ(Ns("10\xC2\xB5s"), 10000);  // µs
  EXPECT_EQ(Ns("7ns"), 7);
  EXPECT_EQ(Ns(".5s"), 500000000);
  EXPECT_EQ(Ns("1h2m3.004s"), 3723004000000);
  EXPECT_EQ(Ns("-1s"), -1000000000);
}

TEST(ParseGoDuration, RejectsWhatGoRejects) {
  for (const char* bad : {"", "1", "s", "1x", "1.s2", "--1s", "1s ", " 1s", "9999999999h", "."}) {
    auto r = ParseGoDuration(bad, "--dial-timeout");
    ASSERT_FALSE(r.has_value()) << "'" << bad << "' accepted";
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
    EXPECT_EQ(r.error().where, "--dial-timeout");
  }
}

TEST(FormatGoDuration, AsGoPrints) {
  EXPECT_EQ(FormatGoDuration(nanoseconds(0)), "0s");
  EXPECT_EQ(FormatGoDuration(nanoseconds(750)), "750ns");
  EXPECT_EQ(FormatGoDuration(nanoseconds(1500)), "1.5\xC2\xB5s");
  EXPECT_EQ(FormatGoDuration(nanoseconds(4857513)), "4.857513ms");
  EXPECT_EQ(FormatGoDuration(nanoseconds(5000000)), "5ms");
  EXPECT_EQ(FormatGoDuration(nanoseconds(2500000000)), "2.5s");
  EXPECT_EQ(FormatGoDuration(nanoseconds(60000000000)), "1m0s");
  EXPECT_EQ(FormatGoDuration(nanoseconds(3723004000000)), "1h2m3.004s");
  EXPECT_EQ(FormatGoDuration(nanoseconds(-2000000000)), "-2s");
}

TEST(GoDuration, RoundTrips) {
  for (int64_t ns : {1LL, 999LL, 1234567LL, 1000000000LL, 59999999999LL, 86400000000000LL})
    EXPECT_EQ(Ns(FormatGoDuration(nanoseconds(ns)).c_str()), ns);
}

}  // namespace
}  // namespace cpr
