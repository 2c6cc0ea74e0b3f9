#include "dataplane/crc32c.h"

#include <nmmintrin.h>

#include <array>
#include <cstring>

namespace vmig::dataplane {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

// a * b mod P, both in the reflected representation (bit 31 is x^0).
uint32_t MulModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = 1u << 31; m != 0; m >>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    b = (b & 1) ? (b >> 1) ^ kPoly : b >> 1;
  }
  return product;
}

// kX2[k] = x^(2^k) mod P.
const std::array<uint32_t, 64>& X2Table() {
  static const std::array<uint32_t, 64> table = [] {
    std::array<uint32_t, 64> t{};
    t[0] = 1u << 30;  // x^1
    for (size_t k = 1; k < t.size(); ++k) t[k] = MulModP(t[k - 1], t[k - 1]);
    return t;
  }();
  return table;
}

// x^(8n) mod P: the operator that appends n zero bytes.
uint32_t ZeroBytesOperator(uint64_t n) {
  const auto& x2 = X2Table();
  uint32_t p = 1u << 31;  // x^0
  for (unsigned k = 3; n != 0; n >>= 1, ++k) {
    if (n & 1) p = MulModP(x2[k & 63], p);
  }
  return p;
}

uint32_t Serial8(const uint8_t* p, size_t words, uint32_t crc) {
  uint64_t c = crc;
  for (size_t i = 0; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, p + 8 * i, 8);
    c = _mm_crc32_u64(c, w);
  }
  return static_cast<uint32_t>(c);
}

// Lane lengths for 3-lane blocks, largest first, with their operators.
struct Lane {
  size_t bytes;
  uint32_t shift1, shift2;  // x^(8*bytes), x^(16*bytes)
};
const std::array<Lane, 5>& Lanes() {
  static const std::array<Lane, 5> lanes = [] {
    std::array<Lane, 5> l{};
    const size_t sizes[] = {4096, 2048, 1024, 512, 256};
    for (size_t i = 0; i < l.size(); ++i) {
      l[i] = {sizes[i], ZeroBytesOperator(sizes[i]),
              ZeroBytesOperator(2 * sizes[i])};
    }
    return l;
  }();
  return lanes;
}

}  // namespace

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b0, size_t len_b) {
  return MulModP(ZeroBytesOperator(len_b), crc_a) ^ crc_b0;
}

uint32_t Crc32cSerial(const uint8_t* data, size_t n, uint32_t seed) {
  uint32_t crc = seed;
  for (size_t i = 0; i < n; ++i) crc = _mm_crc32_u8(crc, data[i]);
  return crc;
}

uint32_t Crc32c(const uint8_t* data, size_t n, uint32_t seed) {
  uint32_t crc = seed;
  for (const Lane& lane : Lanes()) {
    while (n >= 3 * lane.bytes) {
      // Three independent dependency chains: the crc32 instruction's
      // latency (3 cycles) overlaps with its throughput (1 per cycle).
      uint64_t c0 = crc, c1 = 0, c2 = 0;
      const uint8_t* p0 = data;
      const uint8_t* p1 = data + lane.bytes;
      const uint8_t* p2 = data + 2 * lane.bytes;
      for (size_t i = 0; i < lane.bytes; i += 8) {
        uint64_t w0, w1, w2;
        std::memcpy(&w0, p0 + i, 8);
        std::memcpy(&w1, p1 + i, 8);
        std::memcpy(&w2, p2 + i, 8);
        c0 = _mm_crc32_u64(c0, w0);
        c1 = _mm_crc32_u64(c1, w1);
        c2 = _mm_crc32_u64(c2, w2);
      }
      crc = MulModP(lane.shift2, static_cast<uint32_t>(c0)) ^
            MulModP(lane.shift1, static_cast<uint32_t>(c1)) ^
            static_cast<uint32_t>(c2);
      data += 3 * lane.bytes;
      n -= 3 * lane.bytes;
    }
  }
  crc = Serial8(data, n / 8, crc);
  data += n / 8 * 8;
  for (size_t i = 0; i < n % 8; ++i) crc = _mm_crc32_u8(crc, data[i]);
  return crc;
}

}  // namespace vmig::dataplane
