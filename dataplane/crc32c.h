// CRC32C (Castagnoli) at memory speed: three independent crc32 instruction
// streams over thirds of a block hide the instruction's latency, and the
// lanes are joined by multiplying by x^(8n) mod P.
#ifndef VMIGD_DATAPLANE_CRC32C_H_
#define VMIGD_DATAPLANE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace vmig::dataplane {

// The raw CRC register after `n` bytes starting from `seed` (no final XOR):
// ~Crc32c(data, n) is the standard CRC-32C.
uint32_t Crc32c(const uint8_t* data, size_t n, uint32_t seed = 0xffffffffu);
// The same, one byte-step at a time (the reference for tests).
uint32_t Crc32cSerial(const uint8_t* data, size_t n,
                      uint32_t seed = 0xffffffffu);
// crc(A || B) from crc(A) and crc(B starting from 0), given |B|.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b0, size_t len_b);

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_CRC32C_H_
