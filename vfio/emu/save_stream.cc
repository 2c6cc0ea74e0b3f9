#include "vfio/emu/save_stream.h"

#include <algorithm>
#include <cstring>

namespace vmig::vfio::emu {

SaveStream::SaveStream(BlockTable& blocks, const BlockContent& content)
    : blocks_(blocks),
      content_(content),
      hash_state_(XXH3_createState()),
      queued_(blocks.num_blocks(), false) {}

SaveStream::~SaveStream() { XXH3_freeState(hash_state_); }

void SaveStream::OnDirty(uint64_t b) {
  // Blocks the initial pass has not reached yet will be sent at their newest
  // version anyway; only the ones already (being) sent need sending again.
  if (b < next_initial_ && !queued_[b]) {
    queued_[b] = true;
    dirty_queue_.push_back(b);
    dirty_queue_bytes_ += blocks_.record_bytes(b);
  }
}

void SaveStream::Reinit() {
  next_initial_ = 0;
  dirty_queue_.clear();
  std::fill(queued_.begin(), queued_.end(), false);
  dirty_queue_bytes_ = 0;
}

bool SaveStream::HasData() const {
  return cur_.kind != Kind::kNone || !header_sent_ ||
         next_initial_ < blocks_.num_blocks() || !dirty_queue_.empty() ||
         (stop_copy_ && !trailer_done_);
}

bool SaveStream::StartNextRecord() {
  if (!header_sent_) {
    StreamHeader h = {};
    h.magic = kStreamMagic;
    h.format_version = kStreamFormatVersion;
    h.header_bytes = sizeof(StreamHeader);
    h.state_bytes = blocks_.state_bytes();
    h.num_blocks = blocks_.num_blocks();
    h.block_bytes = blocks_.block_bytes();
    h.seed = content_.seed();
    h.check = XXH3_64bits(&h, offsetof(StreamHeader, check));
    cur_ = Cursor{};
    cur_.kind = Kind::kStreamHeader;
    cur_.initial = true;
    cur_.prefix_len = sizeof(h);
    std::memcpy(cur_.prefix, &h, sizeof(h));
    header_sent_ = true;
    return true;
  }
  if (next_initial_ < blocks_.num_blocks()) {
    StartBlock(next_initial_++, /*initial=*/true);
    return true;
  }
  if (!dirty_queue_.empty()) {
    uint64_t b = dirty_queue_.front();
    dirty_queue_.pop_front();
    queued_[b] = false;
    dirty_queue_bytes_ -= blocks_.record_bytes(b);
    StartBlock(b, /*initial=*/false);
    return true;
  }
  if (stop_copy_ && !trailer_done_) {
    StartTrailer();
    return true;
  }
  return false;
}

void SaveStream::StartBlock(uint64_t b, bool initial) {
  cur_ = Cursor{};
  cur_.kind = Kind::kBlock;
  cur_.initial = initial;
  cur_.block = b;
  cur_.version = blocks_.version[b];
  cur_.payload_len = blocks_.length(b);
  cur_.prefix_len = sizeof(RecordHeader);
  cur_.suffix_len = kRecordHashBytes;
  RecordHeader rh = {.magic = kRecordMagic,
                     .type = kRecordBlock,
                     .reserved = 0,
                     .block = b,
                     .version = cur_.version,
                     .length = cur_.payload_len};
  std::memcpy(cur_.prefix, &rh, sizeof(rh));
  XXH3_64bits_reset_withSeed(
      hash_state_, RecordSeed(kRecordBlock, b, cur_.version, cur_.payload_len));
}

void SaveStream::StartTrailer() {
  cur_ = Cursor{};
  cur_.kind = Kind::kTrailer;
  cur_.payload_len = sizeof(TrailerPayload);
  cur_.prefix_len = sizeof(RecordHeader);
  cur_.suffix_len = kRecordHashBytes;
  const uint64_t n = blocks_.num_blocks();
  RecordHeader rh = {.magic = kRecordMagic,
                     .type = kRecordTrailer,
                     .reserved = 0,
                     .block = n,
                     .version = 0,
                     .length = sizeof(TrailerPayload)};
  std::memcpy(cur_.prefix, &rh, sizeof(rh));
  TrailerPayload tp = {.state_digest = blocks_.Digest(content_),
                       .num_blocks = n};
  std::memcpy(cur_.inline_payload, &tp, sizeof(tp));
  XXH3_64bits_reset_withSeed(
      hash_state_, RecordSeed(kRecordTrailer, n, 0, sizeof(TrailerPayload)));
}

void SaveStream::FinishRecord() {
  if (cur_.kind == Kind::kBlock) {
    uint64_t h;
    std::memcpy(&h, cur_.suffix, sizeof(h));
    blocks_.CacheHash(cur_.block, cur_.version, h);
  } else if (cur_.kind == Kind::kTrailer) {
    trailer_done_ = true;
  }
  cur_.kind = Kind::kNone;
}

size_t SaveStream::Produce(uint8_t* out, size_t n) {
  size_t produced = 0;
  while (produced < n) {
    if (cur_.kind == Kind::kNone && !StartNextRecord()) break;
    const uint64_t payload_end = cur_.prefix_len + cur_.payload_len;
    size_t take;
    if (cur_.pos < cur_.prefix_len) {
      take = std::min<uint64_t>(cur_.prefix_len - cur_.pos, n - produced);
      std::memcpy(out + produced, cur_.prefix + cur_.pos, take);
    } else if (cur_.pos < payload_end) {
      const uint64_t off = cur_.pos - cur_.prefix_len;
      take = std::min<uint64_t>(cur_.payload_len - off, n - produced);
      if (cur_.kind == Kind::kBlock) {
        content_.Fill(cur_.block, cur_.version, off, out + produced, take);
      } else {
        std::memcpy(out + produced, cur_.inline_payload + off, take);
      }
      // Hash what was just written while it is still in cache.
      XXH3_64bits_update(hash_state_, out + produced, take);
      if (off + take == cur_.payload_len) {
        uint64_t h = XXH3_64bits_digest(hash_state_);
        std::memcpy(cur_.suffix, &h, sizeof(h));
      }
    } else {
      const uint64_t off = cur_.pos - payload_end;
      take = std::min<uint64_t>(cur_.suffix_len - off, n - produced);
      std::memcpy(out + produced, cur_.suffix + off, take);
    }
    cur_.pos += take;
    produced += take;
    if (cur_.pos == cur_.total()) FinishRecord();
  }
  offset_ += produced;
  return produced;
}

uint64_t SaveStream::initial_bytes() const {
  uint64_t bytes = blocks_.RecordBytesFrom(next_initial_);
  if (!header_sent_) bytes += sizeof(StreamHeader);
  if (cur_.kind != Kind::kNone && cur_.initial) bytes += cur_.remaining();
  return bytes;
}

uint64_t SaveStream::dirty_bytes() const {
  uint64_t bytes = dirty_queue_bytes_;
  if (cur_.kind == Kind::kBlock && !cur_.initial) bytes += cur_.remaining();
  return bytes;
}

uint64_t SaveStream::stop_copy_length() const {
  uint64_t trailer = 0;
  if (cur_.kind == Kind::kTrailer) {
    trailer = cur_.remaining();
  } else if (!trailer_done_) {
    trailer = kTrailerRecordBytes;
  }
  return initial_bytes() + dirty_bytes() + trailer;
}

}  // namespace vmig::vfio::emu
