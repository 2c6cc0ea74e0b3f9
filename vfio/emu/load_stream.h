// The resuming side of an emulated device's data session: validates the
// stream as bytes arrive (framing, bounds, per-record hashes) without storing
// payloads, and at the end checks that the reconstructed state's digest is
// the one the source put in the trailer.
#ifndef VMIGD_VFIO_EMU_LOAD_STREAM_H_
#define VMIGD_VFIO_EMU_LOAD_STREAM_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "vfio/emu/hash.h"
#include "vfio/emu/stream_format.h"

namespace vmig::vfio::emu {

class LoadStream {
 public:
  // The destination device's own geometry; a stream of another shape is
  // refused (like a real device refusing another model's state).
  LoadStream(uint64_t state_bytes, uint32_t block_bytes);
  ~LoadStream();
  LoadStream(const LoadStream&) = delete;
  LoadStream& operator=(const LoadStream&) = delete;

  // Consumes bytes in stream order. The first error is sticky: every later
  // call (and Finish) returns it.
  absl::Status Consume(const uint8_t* data, size_t n);
  // RESUMING -> STOP: the stream must be complete and its digest must match.
  absl::Status Finish() const;

  uint64_t bytes_consumed() const { return consumed_; }
  // Valid after Finish() succeeded.
  uint64_t seed() const { return seed_; }
  uint64_t digest() const { return digest_; }
  const std::vector<uint32_t>& versions() const { return versions_; }
  const std::vector<uint64_t>& hashes() const { return hashes_; }

 private:
  enum class Phase { kStreamHeader, kRecordHeader, kPayload, kHash, kDone };

  absl::Status Fail(std::string message);
  absl::Status OnStreamHeader();
  absl::Status OnRecordHeader();
  absl::Status OnRecordHash();
  uint32_t BlockLength(uint64_t b) const;

  const uint64_t state_bytes_;
  const uint32_t block_bytes_;
  const uint64_t num_blocks_;
  XXH3_state_t* hash_state_;

  Phase phase_ = Phase::kStreamHeader;
  absl::Status error_;
  uint64_t consumed_ = 0;
  // Accumulates a header or hash that arrives in pieces.
  alignas(8) uint8_t pending_[sizeof(StreamHeader)];
  size_t pending_len_ = 0;
  RecordHeader record_ = {};
  uint64_t payload_left_ = 0;
  alignas(8) uint8_t trailer_[sizeof(TrailerPayload)];

  uint64_t seed_ = 0;
  std::vector<uint32_t> versions_;
  std::vector<uint64_t> hashes_;
  uint64_t blocks_received_ = 0;  // distinct blocks
  uint64_t digest_ = 0;
  bool trailer_ok_ = false;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_LOAD_STREAM_H_
