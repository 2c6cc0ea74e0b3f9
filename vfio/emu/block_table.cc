#include "vfio/emu/block_table.h"

namespace vmig::vfio::emu {

BlockTable::BlockTable(uint64_t state_bytes, uint32_t block_bytes)
    : version((state_bytes + block_bytes - 1) / block_bytes, 1),
      hash(version.size(), 0),
      hash_version(version.size(), 0),
      state_bytes_(state_bytes),
      block_bytes_(block_bytes) {}

uint64_t BlockTable::RecordBytesFrom(uint64_t first) const {
  const uint64_t n = num_blocks();
  if (first >= n) return 0;
  return (n - first) * (kRecordOverhead + block_bytes_) -
         (block_bytes_ - length(n - 1));
}

uint64_t BlockTable::FullStreamBytes() const {
  return sizeof(StreamHeader) + RecordBytesFrom(0) + kTrailerRecordBytes;
}

uint64_t BlockTable::Digest(const BlockContent& content) {
  for (uint64_t b = 0; b < num_blocks(); ++b) {
    if (hash_version[b] != version[b]) {
      CacheHash(b, version[b], content.HashOf(b, version[b], length(b)));
    }
  }
  return StateDigest(hash);
}

}  // namespace vmig::vfio::emu
