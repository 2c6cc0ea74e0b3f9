// CRC32C (Castagnoli), the vmigd header's checksum, through ISA-L (Debian's
// libisal), which picks its best kernel at run time; except that long
// buffers, on CPUs with VPCLMULQDQ but without the AVX-512 that ISA-L's
// fastest kernel needs, go through an interleaved kernel of vmigd's own
// (crc32 and VPCLMULQDQ together).
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

// Which kernel Crc32c uses for a long buffer on this CPU: "isal-avx512",
// "interleaved" or "isal" (benchmarks label their figures with it).
const char* Crc32cLongKernel();
// Whether ISA-L has its AVX-512 kernel here (VPCLMULQDQ on 512-bit
// registers, with AVX-512 F, VL, BW and DQ).
bool Crc32cIsalAvx512Available();

// The interleaved kernel itself, for tests and benchmarks. Call it only where
// Crc32cInterleavedAvailable(); any length works, but below
// Crc32cInterleavedMinBytes() it is ISA-L alone.
bool Crc32cInterleavedAvailable();
size_t Crc32cInterleavedMinBytes();
uint32_t Crc32cInterleaved(const uint8_t* data, size_t n, uint32_t seed);

}  // namespace vmig::dataplane

#endif  // VMIGD_DATAPLANE_CRC32C_H_
