#include "dataplane/crc32c.h"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>

namespace vmig::dataplane {

namespace {
// Below this the interleaved kernel's joining costs more than it saves.
constexpr size_t kInterleaveFrom = 1024;
}  // namespace

uint32_t Crc32c(const uint8_t* data, size_t n, uint32_t seed) {
  if (n >= kInterleaveFrom && Crc32cInterleavedAvailable())
    return Crc32cInterleaved(data, n, seed);
  // ISA-L's crc32_iscsi is the same register arithmetic (seeded, no final
  // XOR). It takes an int length and a non-const pointer it only reads.
  uint32_t crc = seed;
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, INT_MAX);
    crc = crc32_iscsi(const_cast<uint8_t*>(data), static_cast<int>(chunk), crc);
    data += chunk;
    n -= chunk;
  }
  return crc;
}

uint32_t Crc32cSerial(const uint8_t* data, size_t n, uint32_t seed) {
  constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial
  uint32_t crc = seed;
  for (size_t i = 0; i < n; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc >> 1) ^ (kPoly & (0u - (crc & 1)));
  }
  return crc;
}

}  // namespace vmig::dataplane
