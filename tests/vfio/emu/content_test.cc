#include "vfio/emu/content.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "vfio/emu/hash.h"

namespace vmig::vfio::emu {
namespace {

constexpr uint32_t kBlockBytes = 4096 + 13;  // not a whole number of words

std::vector<uint8_t> Whole(const BlockContent& c, uint64_t block,
                           uint32_t version) {
  std::vector<uint8_t> out(kBlockBytes);
  c.Fill(block, version, 0, out.data(), out.size());
  return out;
}

// The content is part of the stream format: a source built before a change
// and a destination built after it must agree on what a block holds. The
// digest pins the generator (seed 42, block 3, version 2).
TEST(BlockContentTest, GeneratorIsStable) {
  BlockContent c(42, kBlockBytes);
  const std::vector<uint8_t> block = Whole(c, 3, 2);
  EXPECT_EQ(XXH3_64bits(block.data(), block.size()), 1909975367610299158ull);
}

// Any slice, at any alignment and length (the vector body, its scalar tail
// and a leading partial word), is the same bytes as the whole block there.
TEST(BlockContentTest, SlicesMatchTheWholeBlock) {
  BlockContent c(7, kBlockBytes);
  const std::vector<uint8_t> whole = Whole(c, 11, 5);
  for (size_t offset : {0, 1, 7, 8, 9, 31, 32, 63, 64, 100, 4000}) {
    for (size_t n = 0; offset + n <= kBlockBytes;
         n = n < 80 ? n + 1 : n * 2 + 3) {
      std::vector<uint8_t> part(n + 2, 0xAB);  // guard bytes past the end
      c.Fill(11, 5, offset, part.data(), n);
      ASSERT_TRUE(
          std::equal(part.begin(), part.begin() + n, whole.begin() + offset))
          << "offset " << offset << " length " << n;
      EXPECT_EQ(part[n], 0xAB)
          << "wrote past the end at " << offset << "+" << n;
    }
  }
}

TEST(BlockContentTest, BlocksVersionsAndSeedsDiffer) {
  BlockContent a(1, kBlockBytes), b(2, kBlockBytes);
  EXPECT_NE(Whole(a, 0, 0), Whole(a, 1, 0));
  EXPECT_NE(Whole(a, 0, 0), Whole(a, 0, 1));
  EXPECT_NE(Whole(a, 0, 0), Whole(b, 0, 0));
  EXPECT_EQ(Whole(a, 9, 4), Whole(BlockContent(1, kBlockBytes), 9, 4));
}

}  // namespace
}  // namespace vmig::vfio::emu
