#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "https/refusal_log.h"

namespace cpr::https {
namespace {

using std::chrono::milliseconds;

TEST(RefusalLog, BurstThenRateThenCap) {
  std::vector<std::string> lines;
  RefusalLog log([&](const std::string& l) { lines.push_back(l); },
                 RefusalLog::Config{3, milliseconds(1000), 6});
  const auto t0 = RefusalLog::Clock::now();
  for (int i = 0; i < 100; i++) log.WriteAt("refused " + std::to_string(i), t0);
  ASSERT_EQ(lines.size(), 3u);  // the burst
  EXPECT_EQ(log.suppressed(), 97);
  // One more per interval, reporting what was dropped.
  EXPECT_TRUE(log.WriteAt("later", t0 + milliseconds(1000)));
  EXPECT_NE(lines.back().find("97 similar refusal(s)"), std::string::npos) << lines.back();
  EXPECT_FALSE(log.WriteAt("too soon", t0 + milliseconds(1500)));
  // A long pause refills the burst, but never past the lifetime cap.
  for (int i = 0; i < 10; i++) log.WriteAt("after pause", t0 + milliseconds(100000));
  EXPECT_EQ(lines.size(), 6u);
  EXPECT_NE(lines.back().find("further ones are only counted"), std::string::npos);
  for (int i = 0; i < 10; i++) log.WriteAt("much later", t0 + milliseconds(10000000));
  EXPECT_EQ(lines.size(), 6u);
}

}  // namespace
}  // namespace cpr::https
