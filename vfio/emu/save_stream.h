// The saving side of an emulated device's data session: produces the stream
// (see stream_format.h) for PRE_COPY and STOP_COPY and keeps PRECOPY_INFO's
// accounting exact: initial_bytes + dirty_bytes is what STOP_COPY would send
// now, less the trailer.
#ifndef VMIGD_VFIO_EMU_SAVE_STREAM_H_
#define VMIGD_VFIO_EMU_SAVE_STREAM_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "vfio/emu/block_table.h"
#include "vfio/emu/content.h"
#include "vfio/emu/hash.h"

namespace vmig::vfio::emu {

class SaveStream {
 public:
  // `blocks` and `content` outlive the stream; the device's lock covers all.
  SaveStream(BlockTable& blocks, const BlockContent& content);
  ~SaveStream();
  SaveStream(const SaveStream&) = delete;
  SaveStream& operator=(const SaveStream&) = delete;

  // The workload bumped block b's version.
  void OnDirty(uint64_t b);
  // STOP_COPY: the state is frozen; the stream ends with the trailer.
  void EnterStopCopy() { stop_copy_ = true; }
  // REINIT: the initial data must be sent again, every block once more.
  void Reinit();

  // Copies up to n stream bytes into out. Returns 0 when there is nothing
  // to send: caught up (pre-copy) or finished (stop-copy).
  size_t Produce(uint8_t* out, size_t n);
  bool HasData() const;
  bool finished() const { return trailer_done_; }

  uint64_t initial_bytes() const;
  uint64_t dirty_bytes() const;
  uint64_t stop_copy_length() const;
  uint64_t offset() const { return offset_; }

 private:
  enum class Kind { kNone, kStreamHeader, kBlock, kTrailer };
  struct Cursor {
    Kind kind = Kind::kNone;
    bool initial = false;
    uint64_t block = 0;
    uint32_t version = 0;
    uint32_t prefix_len = 0;   // header bytes
    uint32_t payload_len = 0;  // payload bytes
    uint32_t suffix_len = 0;   // hash bytes
    uint64_t pos = 0;          // bytes of this record already produced
    alignas(8) uint8_t prefix[sizeof(StreamHeader)];
    alignas(8) uint8_t inline_payload[sizeof(TrailerPayload)];
    alignas(8) uint8_t suffix[kRecordHashBytes];
    uint64_t total() const { return prefix_len + payload_len + suffix_len; }
    uint64_t remaining() const { return total() - pos; }
  };

  bool StartNextRecord();
  void StartBlock(uint64_t b, bool initial);
  void StartTrailer();
  void FinishRecord();

  BlockTable& blocks_;
  const BlockContent& content_;
  XXH3_state_t* hash_state_;

  Cursor cur_;
  bool header_sent_ = false;
  bool stop_copy_ = false;
  bool trailer_done_ = false;
  uint64_t next_initial_ = 0;  // the initial pass sends blocks in order
  std::deque<uint64_t> dirty_queue_;
  std::vector<bool> queued_;
  uint64_t dirty_queue_bytes_ = 0;
  uint64_t offset_ = 0;
};

}  // namespace vmig::vfio::emu

#endif  // VMIGD_VFIO_EMU_SAVE_STREAM_H_
