#include "common/units.h"

#include "gtest/gtest.h"

namespace vmig {
namespace {

TEST(UnitsTest, ParsesSizes) {
  EXPECT_EQ(*ParseBytes("4096"), 4096u);
  EXPECT_EQ(*ParseBytes("64KiB"), 65536u);
  EXPECT_EQ(*ParseBytes("256MiB"), 256u << 20);
  EXPECT_EQ(*ParseBytes("1.5GiB"), 3ull << 29);
  EXPECT_EQ(*ParseBytes("2g"), 2ull << 30);
  EXPECT_EQ(*ParseBytes("10MB"), 10000000u);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("-1").ok());
  EXPECT_FALSE(ParseBytes("12 parsecs").ok());
  EXPECT_FALSE(ParseBytes("MiB").ok());
}

TEST(UnitsTest, ParsesRates) {
  EXPECT_DOUBLE_EQ(*ParseRate("2GiB/s"), 2.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(*ParseRate("0"), 0);
  EXPECT_FALSE(ParseRate("2GiB").ok());
}

TEST(UnitsTest, Formats) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1.5 * (1 << 30)), "1.50 GiB");
  EXPECT_EQ(FormatRate(2 * 1048576.0), "2.00 MiB/s");
}

}  // namespace
}  // namespace vmig
