// CRC32C that keeps two execution units busy at once. The crc32 instruction
// retires 8 bytes a cycle at best (ISA-L's AVX2 kernel is at that limit);
// carry-less multiplies on 256-bit registers fold about as fast, on other
// ports. So each block is split: its first part is folded with VPCLMULQDQ,
// the rest is cut into three crc32 lanes, and one loop advances all four.
// The partial CRCs are then joined by shifting each across the bytes that
// follow it (a multiply by x^(8L) mod P), and the leftover tail goes through
// ISA-L.
//
// Polynomials are bit-reflected throughout, as the crc32 instruction and the
// wire CRC use them: in a W-bit value, bit i is the coefficient of x^(W-1-i).
#include <immintrin.h>
#include <isa-l/crc.h>

#include <array>
#include <cstring>

#include "dataplane/crc32c.h"

namespace vmig::dataplane {
namespace {

constexpr uint32_t kReflectedPoly = 0x82f63b78u;

// a * x mod P.
constexpr uint32_t MulX(uint32_t a) {
  return (a >> 1) ^ ((a & 1) ? kReflectedPoly : 0);
}

// a * b mod P, Horner's rule from the highest coefficient (bit 0).
constexpr uint32_t MulMod(uint32_t a, uint32_t b) {
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {
    r = MulX(r);
    if ((a >> i) & 1) r ^= b;
  }
  return r;
}

// x^e mod P.
constexpr uint32_t XPow(uint64_t e) {
  uint32_t r = 0x80000000u;     // x^0
  uint32_t base = 0x40000000u;  // x^1
  for (; e != 0; e >>= 1) {
    if (e & 1) r = MulMod(r, base);
    base = MulMod(base, base);
  }
  return r;
}

// Bytes each crc32 lane takes per loop iteration, beside the 128 bytes the
// fold takes. Measured on Zen 3 over 9000- and 64000-byte buffers: 40-64
// balance the two units (64 is best, 1.55x ISA-L); 16 or 128 leave one idle.
constexpr size_t kLaneStep = 64;
constexpr size_t kFoldStep = 128;
constexpr size_t kIterationBytes = kFoldStep + 3 * kLaneStep;
// Longer inputs go block by block, so that the join constants fit a table.
constexpr size_t kMaxBlock = 64 * 1024;
constexpr size_t kMaxIterations = kMaxBlock / kIterationBytes;

// A 128-bit lane V = Vlo * x^64 + Vhi (Vlo is the low quadword, which holds
// the higher coefficients) moves D bits forward as
// clmul(Vlo, x^(64+D-1)) ^ clmul(Vhi, x^(D-1)): a product of reflected
// operands carries one extra factor x. The keys are 32-bit residues placed
// in the top of a reflected quadword.
struct FoldKeys {
  uint64_t lo, hi;
};
constexpr FoldKeys KeysFor(uint64_t bits) {
  return {uint64_t{XPow(64 + bits - 1)} << 32, uint64_t{XPow(bits - 1)} << 32};
}
constexpr FoldKeys kFold1024 = KeysFor(1024);  // the loop: 128 bytes on
constexpr FoldKeys kFold768 = KeysFor(768);    // joining the four registers
constexpr FoldKeys kFold512 = KeysFor(512);
constexpr FoldKeys kFold256 = KeysFor(256);
constexpr FoldKeys kFold128 = KeysFor(128);  // and the last two lanes

// Shifting a 32-bit CRC r across L bytes: crc32(0, clmul(r, K)) computes
// r * K * x^33 mod P, so K = x^(8L-33). Entry [i][m-1] shifts across m lanes
// of i iterations each.
using ShiftTable = std::array<std::array<uint64_t, 3>, kMaxIterations + 1>;
constexpr ShiftTable MakeShiftTable() {
  ShiftTable t{};
  for (size_t i = 1; i <= kMaxIterations; ++i)
    for (size_t m = 1; m <= 3; ++m)
      t[i][m - 1] = XPow(8 * m * kLaneStep * i - 33);
  return t;
}
constexpr ShiftTable kShift = MakeShiftTable();

// (CMakeLists.txt builds this file with -mno-avx256-split-unaligned-load:
// generic tuning would split every unaligned 256-bit load in two.)
#define VMIG_CRC_TARGET __attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2")))

VMIG_CRC_TARGET inline __m256i Keys256(const FoldKeys& k) {
  return _mm256_set_epi64x(
      static_cast<int64_t>(k.hi), static_cast<int64_t>(k.lo),
      static_cast<int64_t>(k.hi), static_cast<int64_t>(k.lo));
}

VMIG_CRC_TARGET inline __m256i Fold(__m256i x, __m256i keys) {
  return _mm256_xor_si256(_mm256_clmulepi64_epi128(x, keys, 0x00),
                          _mm256_clmulepi64_epi128(x, keys, 0x11));
}

VMIG_CRC_TARGET inline __m256i Load(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

VMIG_CRC_TARGET inline uint64_t Clmul(uint64_t a, uint64_t b) {
  const __m128i p =
      _mm_clmulepi64_si128(_mm_cvtsi64_si128(static_cast<int64_t>(a)),
                           _mm_cvtsi64_si128(static_cast<int64_t>(b)), 0x00);
  return static_cast<uint64_t>(_mm_cvtsi128_si64(p));
}

// Three crc32 lanes, kept in named scalars so that they stay in registers.
struct Lanes {
  const uint8_t *p0, *p1, *p2;
  uint64_t c0 = 0, c1 = 0, c2 = 0;
};

VMIG_CRC_TARGET inline uint64_t Word(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

VMIG_CRC_TARGET inline void StepLanes(Lanes& l, size_t offset) {
  const uint8_t *p0 = l.p0 + offset, *p1 = l.p1 + offset, *p2 = l.p2 + offset;
#pragma GCC unroll 8
  for (size_t q = 0; q < kLaneStep; q += 8) {
    l.c0 = _mm_crc32_u64(l.c0, Word(p0 + q));
    l.c1 = _mm_crc32_u64(l.c1, Word(p1 + q));
    l.c2 = _mm_crc32_u64(l.c2, Word(p2 + q));
  }
}

// One block of at least kIterationBytes and at most kMaxBlock bytes.
VMIG_CRC_TARGET uint32_t Block(const uint8_t* p, size_t n, uint32_t seed) {
  const size_t iterations = n / kIterationBytes;
  const size_t fold_bytes = kFoldStep * iterations;
  const size_t lane_bytes = kLaneStep * iterations;
  // The seed enters as an XOR into the first four bytes.
  __m256i x0 = _mm256_xor_si256(
      Load(p),
      _mm256_zextsi128_si256(_mm_cvtsi32_si128(static_cast<int>(seed))));
  __m256i x1 = Load(p + 32), x2 = Load(p + 64), x3 = Load(p + 96);
  Lanes lanes{p + fold_bytes, p + fold_bytes + lane_bytes,
              p + fold_bytes + 2 * lane_bytes};
  const __m256i k1024 = Keys256(kFold1024);
  for (size_t i = 1; i < iterations; ++i) {
    const uint8_t* d = p + kFoldStep * i;
    x0 = _mm256_xor_si256(Fold(x0, k1024), Load(d));
    x1 = _mm256_xor_si256(Fold(x1, k1024), Load(d + 32));
    x2 = _mm256_xor_si256(Fold(x2, k1024), Load(d + 64));
    x3 = _mm256_xor_si256(Fold(x3, k1024), Load(d + 96));
    StepLanes(lanes, (i - 1) * kLaneStep);
  }
  StepLanes(lanes, (iterations - 1) * kLaneStep);

  // Join the fold's eight 128-bit lanes into the last one, then reduce it
  // to 32 bits: crc32 from zero computes V * x^32 mod P, 64 bits at a time.
  x3 = _mm256_xor_si256(x3, Fold(x0, Keys256(kFold768)));
  x3 = _mm256_xor_si256(x3, Fold(x1, Keys256(kFold512)));
  x3 = _mm256_xor_si256(x3, Fold(x2, Keys256(kFold256)));
  const __m128i low = _mm256_castsi256_si128(x3);
  const __m128i k128 = _mm256_castsi256_si128(Keys256(kFold128));
  const __m128i v =
      _mm_xor_si128(_mm256_extracti128_si256(x3, 1),
                    _mm_xor_si128(_mm_clmulepi64_si128(low, k128, 0x00),
                                  _mm_clmulepi64_si128(low, k128, 0x11)));
  const uint64_t fold_crc = _mm_crc32_u64(
      _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(v))),
      static_cast<uint64_t>(_mm_extract_epi64(v, 1)));

  // Each part's CRC shifted across the lanes after it; the last lane's
  // stands as it is.
  const auto& shift = kShift[iterations];
  const uint64_t joined = Clmul(fold_crc, shift[2]) ^
                          Clmul(lanes.c0, shift[1]) ^ Clmul(lanes.c1, shift[0]);
  const uint32_t crc = static_cast<uint32_t>(_mm_crc32_u64(0, joined)) ^
                       static_cast<uint32_t>(lanes.c2);
  const size_t done = fold_bytes + 3 * lane_bytes;
  return crc32_iscsi(const_cast<uint8_t*>(p + done), static_cast<int>(n - done),
                     crc);
}

}  // namespace

bool Crc32cInterleavedAvailable() {
  // May run in a static initializer, before libgcc has probed the CPU.
  static const bool available =
      (__builtin_cpu_init(), true) && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("pclmul") &&
      __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("sse4.2");
  return available;
}

size_t Crc32cInterleavedMinBytes() { return kIterationBytes; }

uint32_t Crc32cInterleaved(const uint8_t* data, size_t n, uint32_t seed) {
  uint32_t crc = seed;
  while (n >= kIterationBytes) {
    const size_t take = n < kMaxBlock ? n : kMaxBlock;
    crc = Block(data, take, crc);
    data += take;
    n -= take;
  }
  return n == 0 ? crc
                : crc32_iscsi(const_cast<uint8_t*>(data), static_cast<int>(n),
                              crc);
}

}  // namespace vmig::dataplane
