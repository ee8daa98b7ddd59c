// util/spool.h: what is appended is read back in order, whole, whether it
// stayed in memory or went to the temporary file, whatever the read sizes
// and the read buffer.
#include <gtest/gtest.h>

#include <string>

#include "util/spool.h"

namespace cpr {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

std::string ReadAllIn(Spool& spool, size_t piece) {
  std::string out, buf(piece, '\0');
  for (;;) {
    auto got = spool.Read(buf.data(), buf.size());
    EXPECT_TRUE(got.has_value());
    if (!got || *got == 0) return out;
    out.append(buf.data(), *got);
  }
}

TEST(Spool, ReadsBackWhatStayedInMemory) {
  Spool spool(1 << 20);
  const std::string data = Pattern(5000);
  ASSERT_TRUE(spool.Append(Bytes(data)));
  ASSERT_TRUE(spool.Rewind());
  EXPECT_EQ(ReadAllIn(spool, 77), data);
}

TEST(Spool, ReadsBackWhatSpilledWhateverThePieces) {
  const std::string data = Pattern(3 << 20);  // three 1 MB chunks and more
  for (size_t buffer : {size_t{1}, size_t{4096}, size_t{100000}, size_t{1} << 22}) {
    for (size_t piece : {size_t{1}, size_t{89}, size_t{65536}, size_t{5} << 20}) {
      Spool spool(1000);
      for (size_t at = 0; at < data.size(); at += 12345)
        ASSERT_TRUE(spool.Append(Bytes(data).substr(at, 12345)));
      EXPECT_EQ(spool.size(), data.size());
      spool.set_read_buffer(buffer);
      ASSERT_TRUE(spool.Rewind());
      EXPECT_EQ(ReadAllIn(spool, piece), data) << "buffer " << buffer << ", piece " << piece;
      // Read again from the start.
      ASSERT_TRUE(spool.Rewind());
      EXPECT_EQ(ReadAllIn(spool, piece), data);
    }
  }
}

}  // namespace
}  // namespace cpr
