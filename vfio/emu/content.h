// The emulated device's state: blocks whose content is a deterministic
// function of (seed, block, version), generated on the fly, so that a device
// with 64 GiB of state costs a few bytes per block of memory.
#ifndef VMIGD_VFIO_EMU_CONTENT_H_
#define VMIGD_VFIO_EMU_CONTENT_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace vmig::vfio::emu {

class BlockContent {
 public:
  BlockContent(uint64_t seed, uint32_t block_bytes);

  // Writes bytes [offset, offset + n) of block `block` at `version` to out.
  void Fill(uint64_t block, uint32_t version, size_t offset, uint8_t* out,
            size_t n) const;

  // The record hash of a block's payload: XXH3-64 seeded by RecordSeed().
  // Generates the block, so it costs one pass over it.
  uint64_t HashOf(uint64_t block, uint32_t version, uint32_t length) const;

  uint64_t seed() const { return seed_; }

 private:
  uint64_t seed_;
  // One block of seed-derived noise; each (block, version) mixes its own key
  // into it, word by word. Cheap enough to stream at memory speed.
  std::vector<uint64_t> base_;
};

// The XXH3 seed of a record: binds the payload hash to the record's header
// fields, so a corrupt block index or version fails the hash.
uint64_t RecordSeed(uint16_t type, uint64_t block, uint32_t version,
                    uint32_t length);

// The digest of a whole device state from its per-block record hashes, in
// block order. Source and destination compute it the same way.
uint64_t StateDigest(absl::Span<const uint64_t> block_hashes);

// splitmix64: the mixer used for keys and the workload's block choice.
uint64_t Mix64(uint64_t x);

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_CONTENT_H_
