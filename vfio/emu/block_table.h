// Per-block bookkeeping of an emulated device's state: the version of each
// block, and a cache of each block's record hash.
#ifndef VMIGD_VFIO_EMU_BLOCK_TABLE_H_
#define VMIGD_VFIO_EMU_BLOCK_TABLE_H_

#include <cstdint>
#include <vector>

#include "vfio/emu/content.h"
#include "vfio/emu/stream_format.h"

namespace vmig::vfio::emu {

class BlockTable {
 public:
  BlockTable(uint64_t state_bytes, uint32_t block_bytes);

  uint64_t num_blocks() const { return version.size(); }
  uint64_t state_bytes() const { return state_bytes_; }
  uint32_t block_bytes() const { return block_bytes_; }
  // Payload bytes of block b (the last block may be short).
  uint32_t length(uint64_t b) const {
    return b + 1 == num_blocks()
               ? static_cast<uint32_t>(state_bytes_ - b * block_bytes_)
               : block_bytes_;
  }
  uint64_t record_bytes(uint64_t b) const {
    return kRecordOverhead + length(b);
  }
  // Record bytes of blocks [first, num_blocks()).
  uint64_t RecordBytesFrom(uint64_t first) const;
  // A whole stream: header, every block once, trailer.
  uint64_t FullStreamBytes() const;

  // Remembers the record hash of block b at version v.
  void CacheHash(uint64_t b, uint32_t v, uint64_t h) {
    hash[b] = h;
    hash_version[b] = v;
  }
  // The digest of the current state; computes hashes missing from the cache.
  uint64_t Digest(const BlockContent& content);

  std::vector<uint32_t> version;       // current version, from 1
  std::vector<uint64_t> hash;          // record hash at hash_version
  std::vector<uint32_t> hash_version;  // 0: not computed

 private:
  uint64_t state_bytes_;
  uint32_t block_bytes_;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_BLOCK_TABLE_H_
