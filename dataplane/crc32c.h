// CRC32C (Castagnoli), the vmigd header's checksum. The fast path is
// ISA-L's (Debian's libisal): it folds with carry-less multiplies and picks
// the best kernel for the CPU at run time.
#ifndef VMIGD_DATAPLANE_CRC32C_H_
#define VMIGD_DATAPLANE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace vmig::dataplane {

// The raw CRC register after `n` bytes starting from `seed` (no final XOR):
// ~Crc32c(data, n) is the standard CRC-32C. Chainable: the register after
// A is the seed for B.
uint32_t Crc32c(const uint8_t* data, size_t n, uint32_t seed = 0xffffffffu);
// The same, bit by bit from the polynomial (the reference for tests).
uint32_t Crc32cSerial(const uint8_t* data, size_t n,
                      uint32_t seed = 0xffffffffu);

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_CRC32C_H_
