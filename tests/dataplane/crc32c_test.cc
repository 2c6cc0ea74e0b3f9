// The frame checksum: the dispatching entry point and the interleaved kernel
// against the bit-by-bit definition, across lengths, alignments and seeds.
#include "dataplane/crc32c.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace vmig::dataplane {
namespace {

std::vector<uint8_t> Noise(size_t n, uint32_t x) {
  std::vector<uint8_t> data(n);
  for (auto& b : data)
    b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
  return data;
}

// The CPU's flags as the kernel lists them, read apart from the compiler's
// CPU probe that the dispatch itself uses.
std::set<std::string> CpuFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

// Long buffers take ISA-L's AVX-512 kernel where the CPU has it (it beats
// the interleaved kernel at every size there), the interleaved kernel where
// VPCLMULQDQ has no AVX-512 beside it, and ISA-L's crc32 kernel elsewhere.
TEST(Crc32cTest, LongBuffersTakeTheKernelThisCpuRunsFastest) {
  const std::set<std::string> f = CpuFlags();
  if (f.empty()) GTEST_SKIP() << "no flags in /proc/cpuinfo";
  auto has = [&](const char* flag) { return f.count(flag) > 0; };
  const std::string kernel = Crc32cLongKernel();
  if (has("avx512f") && has("avx512vl") && has("avx512bw") && has("avx512dq") &&
      has("vpclmulqdq")) {
    EXPECT_EQ(kernel, "isal-avx512");
  } else if (has("avx2") && has("vpclmulqdq") && has("pclmulqdq") &&
             has("sse4_2")) {
    EXPECT_EQ(kernel, "interleaved");
  } else {
    EXPECT_EQ(kernel, "isal");
  }
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  const auto* s = reinterpret_cast<const uint8_t*>("123456789");
  EXPECT_EQ(~Crc32c(s, 9), 0xe3069283u);
  EXPECT_EQ(~Crc32cSerial(s, 9), 0xe3069283u);
}

TEST(Crc32cTest, EqualsBitwiseReferenceForEveryLengthAndAlignment) {
  const auto data = Noise(65000, 12345);
  // Around ISA-L's 128-byte fold block and 512-byte start of folding, the
  // interleaved kernel's 1024-byte start and 320-byte iteration, up to a
  // 64 KiB memif frame; default and arbitrary seeds.
  for (size_t len :
       {0,    1,    7,    8,    9,    127,   128,   255,   511,  512,  513,
        639,  640,  767,  768,  769,  1023,  1024,  1025,  1279, 1280, 1536,
        3072, 6143, 6144, 8961, 9001, 12288, 12289, 39000, 64990}) {
    for (size_t off : {0, 1, 3, 8}) {
      for (uint32_t seed : {0xffffffffu, 0u, 0x1234abcdu}) {
        EXPECT_EQ(Crc32c(data.data() + off, len, seed),
                  Crc32cSerial(data.data() + off, len, seed))
            << "len " << len << " off " << off << " seed " << seed;
      }
    }
  }
}

TEST(Crc32cTest, ChainsLikeOneCrcOverBothParts) {
  // The header CRC is seeded with the header's and runs on over the payload.
  const auto a = Noise(1000, 1), b = Noise(7777, 2);
  auto ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  EXPECT_EQ(Crc32c(b.data(), b.size(), Crc32c(a.data(), a.size())),
            Crc32c(ab.data(), ab.size()));
}

class InterleavedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Crc32cInterleavedAvailable())
      GTEST_SKIP() << "this CPU has no VPCLMULQDQ; Crc32c uses ISA-L alone";
  }
};

TEST_F(InterleavedTest, EqualsBitwiseReferenceAtEveryLengthOfItsRange) {
  // Every length over three full iterations on either side of each split
  // point, so that every tail length and lane size is met.
  const size_t step = Crc32cInterleavedMinBytes();
  const auto data = Noise(64 * 1024 + 2 * step, 777);
  for (size_t len = 0; len < 4 * step; ++len) {
    ASSERT_EQ(Crc32cInterleaved(data.data() + 5, len, 0xffffffffu),
              Crc32cSerial(data.data() + 5, len, 0xffffffffu))
        << "len " << len;
  }
  for (size_t len = 60000; len < 60000 + step; ++len) {
    ASSERT_EQ(Crc32cInterleaved(data.data(), len, 0x9e3779b9u),
              Crc32cSerial(data.data(), len, 0x9e3779b9u))
        << "len " << len;
  }
}

TEST_F(InterleavedTest, TakesInputsLongerThanOneBlockInPieces) {
  // Over 64 KiB the kernel works block by block: the joints must not show.
  const auto data = Noise(3 * 64 * 1024 + 1000, 4242);
  for (size_t len :
       {size_t{64 * 1024 - 1}, size_t{64 * 1024}, size_t{64 * 1024 + 1},
        size_t{64 * 1024 + 319}, size_t{64 * 1024 + 320},
        size_t{2 * 64 * 1024 + 7}, data.size()}) {
    EXPECT_EQ(Crc32cInterleaved(data.data(), len, 0u),
              Crc32cSerial(data.data(), len, 0u))
        << "len " << len;
  }
}

TEST_F(InterleavedTest, SeesASingleFlippedBitAnywhere) {
  // Each of the four parts (fold, three lanes) and the tail must count: a
  // bug that dropped one part would miss flips inside it.
  auto data = Noise(9000, 99);
  const uint32_t clean = Crc32cInterleaved(data.data(), data.size(), ~0u);
  for (size_t at = 0; at < data.size(); at += 97) {
    data[at] ^= 0x10;
    EXPECT_NE(Crc32cInterleaved(data.data(), data.size(), ~0u), clean)
        << "flip at " << at;
    data[at] ^= 0x10;
  }
}

}  // namespace
}  // namespace vmig::dataplane
