// The emulated device's migration stream: what its data_fd carries. A real
// device's stream is opaque to vmigd; this one is framed and checksummed so
// that the destination can validate it as it arrives and prove, after the
// load, that it holds exactly the source's final state.
//
//   stream  := StreamHeader Record* Trailer
//   Record  := RecordHeader payload[length] hash:u64
//   Trailer := RecordHeader(type=kTrailer) TrailerPayload hash:u64
//
// A block may appear several times (pre-copy sends it, the workload dirties
// it, it is sent again); the last copy wins. Integers are little-endian.
#ifndef VMIGD_VFIO_EMU_STREAM_FORMAT_H_
#define VMIGD_VFIO_EMU_STREAM_FORMAT_H_

#include <cstddef>
#include <cstdint>

namespace vmig::vfio::emu {

inline constexpr uint64_t kStreamMagic = 0x31554d4547494d56ull;  // "VMIGEMU1"
inline constexpr uint32_t kStreamFormatVersion = 1;
inline constexpr uint32_t kRecordMagic = 0x4b4c4256u;  // "VBLK"

enum RecordType : uint16_t {
  kRecordBlock = 1,
  kRecordTrailer = 2,
};

struct StreamHeader {
  uint64_t magic;
  uint32_t format_version;
  uint32_t header_bytes;
  uint64_t state_bytes;
  uint64_t num_blocks;
  uint32_t block_bytes;
  uint32_t reserved0;
  uint64_t seed;  // lets the destination regenerate content after the load
  uint64_t reserved1;
  uint64_t check;  // XXH3-64 of the bytes before it
};
static_assert(sizeof(StreamHeader) == 64);
static_assert(offsetof(StreamHeader, check) == 56);

struct RecordHeader {
  uint32_t magic;
  uint16_t type;
  uint16_t reserved;
  uint64_t block;    // kTrailer: the number of blocks
  uint32_t version;  // kTrailer: 0
  uint32_t length;   // payload bytes
};
static_assert(sizeof(RecordHeader) == 24);

struct TrailerPayload {
  uint64_t state_digest;  // StateDigest() of the final state
  uint64_t num_blocks;
};
static_assert(sizeof(TrailerPayload) == 16);

inline constexpr size_t kRecordHashBytes = 8;
inline constexpr size_t kRecordOverhead =
    sizeof(RecordHeader) + kRecordHashBytes;
inline constexpr size_t kTrailerRecordBytes =
    kRecordOverhead + sizeof(TrailerPayload);

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_STREAM_FORMAT_H_
