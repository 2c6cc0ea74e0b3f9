#include "vfio/emu/content.h"

#include <cstring>

#include "vfio/emu/hash.h"
#include "vfio/emu/stream_format.h"

namespace vmig::vfio::emu {
namespace {

// Odd constant stepping the per-word key, so that words within a block differ
// even where the base repeats.
constexpr uint64_t kWordStep = 0x9e3779b97f4a7c15ull;

uint64_t BlockKey(uint64_t seed, uint64_t block, uint32_t version) {
  return Mix64(seed ^ Mix64(block * 0xd1342543de82ef95ull + version));
}

// Word i of a block: the definition FillWords computes four at a time.
inline uint64_t WordAt(const uint64_t* base, uint64_t key, size_t i) {
  return base[i] ^ (key + i * kWordStep);
}

// Four words in one AVX2 register (two SSE2 registers in the default clone).
using Words4 = uint64_t __attribute__((vector_size(32)));

// The bulk of Fill: whole words. Built for AVX2 and the baseline, chosen at
// run time, so that generating state runs at memory speed. Written with
// explicit vectors because GCC at -O2 leaves the plain loop scalar (8 bytes
// a cycle at best, half of what the stream needs): it cannot rule out that
// `out` overlaps `base`.
// Not under TSan: its runtime is not up yet when the ifunc resolver of the
// clones runs at load, and the process dies.
#if defined(VMIG_TSAN)
#define VMIG_AVX2_CLONES
#else
#define VMIG_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#endif
VMIG_AVX2_CLONES void FillWords(
    const uint64_t* base, uint64_t key, size_t words, uint8_t* out) {
  constexpr uint64_t kStep4 = 4 * kWordStep;
  const Words4 step8 = {2 * kStep4, 2 * kStep4, 2 * kStep4, 2 * kStep4};
  Words4 k0 = {key, key + kWordStep, key + 2 * kWordStep, key + 3 * kWordStep};
  Words4 k1 = k0 + kStep4;
  size_t i = 0;
  // Two registers an iteration: a cache line, and two independent chains.
  for (; i + 8 <= words; i += 8) {
    Words4 b0, b1;
    std::memcpy(&b0, base + i, sizeof(b0));
    std::memcpy(&b1, base + i + 4, sizeof(b1));
    const Words4 w0 = b0 ^ k0, w1 = b1 ^ k1;
    std::memcpy(out + i * 8, &w0, sizeof(w0));
    std::memcpy(out + i * 8 + 32, &w1, sizeof(w1));
    k0 += step8;
    k1 += step8;
  }
  for (; i < words; ++i) {
    const uint64_t w = WordAt(base, key, i);
    std::memcpy(out + i * 8, &w, 8);
  }
}

}  // namespace

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

BlockContent::BlockContent(uint64_t seed, uint32_t block_bytes)
    : seed_(seed), base_((block_bytes + 7) / 8) {
  uint64_t x = seed;
  for (uint64_t& w : base_) w = Mix64(x++);
}

void BlockContent::Fill(uint64_t block, uint32_t version, size_t offset,
                        uint8_t* out, size_t n) const {
  const uint64_t key = BlockKey(seed_, block, version);
  size_t word = offset / 8;
  // A leading partial word (the reader stopped mid-word last time).
  if (size_t skip = offset % 8; skip != 0 && n > 0) {
    const uint64_t w = WordAt(base_.data(), key, word);
    size_t take = std::min(8 - skip, n);
    std::memcpy(out, reinterpret_cast<const uint8_t*>(&w) + skip, take);
    out += take;
    n -= take;
    ++word;
  }
  // Whole words, vectorized.
  const size_t words = n / 8;
  const uint64_t* base = base_.data() + word;
  const uint64_t k = key + word * kWordStep;
  FillWords(base, k, words, out);
  out += words * 8;
  n -= words * 8;
  if (n > 0) {
    const uint64_t w = WordAt(base, k, words);
    std::memcpy(out, &w, n);
  }
}

uint64_t BlockContent::HashOf(uint64_t block, uint32_t version,
                              uint32_t length) const {
  std::vector<uint8_t> buf(length);
  Fill(block, version, 0, buf.data(), length);
  return XXH3_64bits_withSeed(buf.data(), length,
                              RecordSeed(kRecordBlock, block, version, length));
}

uint64_t RecordSeed(uint16_t type, uint64_t block, uint32_t version,
                    uint32_t length) {
  return Mix64(Mix64(block ^ (uint64_t{type} << 48)) ^
               ((uint64_t{version} << 32) | length));
}

uint64_t StateDigest(absl::Span<const uint64_t> block_hashes) {
  return XXH3_64bits_withSeed(block_hashes.data(),
                              block_hashes.size() * sizeof(uint64_t),
                              block_hashes.size());
}

}  // namespace vmig::vfio::emu
