#include "vfio/emu/load_stream.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "vfio/emu/content.h"

namespace vmig::vfio::emu {

LoadStream::LoadStream(uint64_t state_bytes, uint32_t block_bytes)
    : state_bytes_(state_bytes),
      block_bytes_(block_bytes),
      num_blocks_((state_bytes + block_bytes - 1) / block_bytes),
      hash_state_(XXH3_createState()),
      // Sized here, when RESUMING opens the stream, so that writing it
      // (on a data-plane worker) allocates nothing.
      versions_(num_blocks_, 0),
      hashes_(num_blocks_, 0) {}

LoadStream::~LoadStream() { XXH3_freeState(hash_state_); }

uint32_t LoadStream::BlockLength(uint64_t b) const {
  return b + 1 == num_blocks_
             ? static_cast<uint32_t>(state_bytes_ - b * block_bytes_)
             : block_bytes_;
}

absl::Status LoadStream::Fail(std::string message) {
  error_ = absl::DataLossError(absl::StrCat(
      "emulated device stream corrupt at byte ", consumed_, ": ", message));
  return error_;
}

absl::Status LoadStream::Consume(const uint8_t* data, size_t n) {
  if (!error_.ok()) return error_;
  while (n > 0) {
    size_t want = 0;
    switch (phase_) {
      case Phase::kStreamHeader:
        want = sizeof(StreamHeader);
        break;
      case Phase::kRecordHeader:
        want = sizeof(RecordHeader);
        break;
      case Phase::kHash:
        want = kRecordHashBytes;
        break;
      case Phase::kPayload: {
        size_t take = std::min<uint64_t>(payload_left_, n);
        XXH3_64bits_update(hash_state_, data, take);
        if (record_.type == kRecordTrailer) {
          std::memcpy(trailer_ + (sizeof(trailer_) - payload_left_), data,
                      take);
        }
        payload_left_ -= take;
        data += take;
        n -= take;
        consumed_ += take;
        if (payload_left_ == 0) phase_ = Phase::kHash;
        continue;
      }
      case Phase::kDone:
        return Fail(
            absl::StrCat(n, " bytes written past the end of the stream"));
    }
    size_t take = std::min(want - pending_len_, n);
    std::memcpy(pending_ + pending_len_, data, take);
    pending_len_ += take;
    data += take;
    n -= take;
    consumed_ += take;
    if (pending_len_ < want) break;
    pending_len_ = 0;
    absl::Status s = phase_ == Phase::kStreamHeader   ? OnStreamHeader()
                     : phase_ == Phase::kRecordHeader ? OnRecordHeader()
                                                      : OnRecordHash();
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status LoadStream::OnStreamHeader() {
  StreamHeader h;
  std::memcpy(&h, pending_, sizeof(h));
  if (h.magic != kStreamMagic) return Fail("bad stream magic");
  if (h.check != XXH3_64bits(&h, offsetof(StreamHeader, check))) {
    return Fail("stream header checksum mismatch");
  }
  if (h.format_version != kStreamFormatVersion ||
      h.header_bytes != sizeof(StreamHeader)) {
    return Fail(
        absl::StrCat("unsupported stream format version ", h.format_version));
  }
  if (h.state_bytes != state_bytes_ || h.block_bytes != block_bytes_ ||
      h.num_blocks != num_blocks_) {
    return Fail(absl::StrCat("stream is for a device of ", h.state_bytes,
                             " bytes in blocks of ", h.block_bytes,
                             "; this device has ", state_bytes_,
                             " in blocks of ", block_bytes_));
  }
  seed_ = h.seed;
  std::fill(versions_.begin(), versions_.end(), 0);
  std::fill(hashes_.begin(), hashes_.end(), 0);
  phase_ = Phase::kRecordHeader;
  return absl::OkStatus();
}

absl::Status LoadStream::OnRecordHeader() {
  std::memcpy(&record_, pending_, sizeof(record_));
  if (record_.magic != kRecordMagic || record_.reserved != 0) {
    return Fail("bad record magic");
  }
  if (record_.type == kRecordBlock) {
    if (record_.block >= num_blocks_) {
      return Fail(absl::StrCat("block ", record_.block, " out of range (",
                               num_blocks_, " blocks)"));
    }
    if (record_.version == 0 || record_.length != BlockLength(record_.block)) {
      return Fail(absl::StrCat("block ", record_.block, " has bad version ",
                               record_.version, " or length ", record_.length));
    }
  } else if (record_.type == kRecordTrailer) {
    if (record_.block != num_blocks_ || record_.version != 0 ||
        record_.length != sizeof(TrailerPayload)) {
      return Fail("malformed trailer");
    }
  } else {
    return Fail(absl::StrCat("unknown record type ", record_.type));
  }
  XXH3_64bits_reset_withSeed(
      hash_state_,
      RecordSeed(record_.type, record_.block, record_.version, record_.length));
  payload_left_ = record_.length;
  phase_ = Phase::kPayload;
  return absl::OkStatus();
}

absl::Status LoadStream::OnRecordHash() {
  uint64_t want;
  std::memcpy(&want, pending_, sizeof(want));
  const uint64_t got = XXH3_64bits_digest(hash_state_);
  if (want != got) {
    return Fail(record_.type == kRecordTrailer
                    ? std::string("trailer hash mismatch")
                    : absl::StrCat("block ", record_.block, " hash mismatch"));
  }
  if (record_.type == kRecordBlock) {
    if (versions_[record_.block] == 0) ++blocks_received_;
    versions_[record_.block] = record_.version;
    hashes_[record_.block] = got;
    phase_ = Phase::kRecordHeader;
    return absl::OkStatus();
  }
  TrailerPayload tp;
  std::memcpy(&tp, trailer_, sizeof(tp));
  if (tp.num_blocks != num_blocks_) return Fail("trailer block count mismatch");
  if (blocks_received_ != num_blocks_) {
    return Fail(absl::StrCat("trailer after only ", blocks_received_, " of ",
                             num_blocks_, " blocks"));
  }
  digest_ = StateDigest(hashes_);
  if (digest_ != tp.state_digest) {
    return Fail(absl::StrCat("state digest ", absl::Hex(digest_),
                             " does not match the source's ",
                             absl::Hex(tp.state_digest)));
  }
  trailer_ok_ = true;
  phase_ = Phase::kDone;
  return absl::OkStatus();
}

absl::Status LoadStream::Finish() const {
  if (!error_.ok()) return error_;
  if (!trailer_ok_) {
    return absl::DataLossError(
        absl::StrCat("emulated device stream is short: ", consumed_,
                     " bytes received and no valid trailer (", blocks_received_,
                     " of ", num_blocks_, " blocks)"));
  }
  return absl::OkStatus();
}

}  // namespace vmig::vfio::emu
