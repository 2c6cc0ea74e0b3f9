// The emulated device's protocol, checked against the uAPI's rules.
#include "vfio/emu/emu_device.h"

#include <poll.h>

#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "vfio/emu/stream_format.h"
#include "vfio/local_migration.h"
#include "vfio/transition_log.h"

namespace vmig::vfio::emu {
namespace {

using S = DeviceState;

std::unique_ptr<EmuDevice> Make(const std::string& spec) {
  auto dev = EmuDevice::Create(spec);
  EXPECT_TRUE(dev.ok()) << dev.status();
  return std::move(*dev);
}

bool PollReadable(DataSession& s, int timeout_ms) {
  pollfd pfd = {.fd = s.poll_fd(), .events = s.ready_events(), .revents = 0};
  return ::poll(&pfd, 1, timeout_ms) == 1;
}

// Reads until the outcome is not kData; returns bytes read.
uint64_t Drain(DataSession& s, ReadOutcome* last, size_t chunk = 1 << 20) {
  std::vector<uint8_t> buf(chunk);
  uint64_t total = 0;
  for (;;) {
    auto r = s.Read(absl::MakeSpan(buf));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->outcome != ReadOutcome::kData) {
      if (r.ok()) *last = r->outcome;
      return total;
    }
    total += r->bytes;
  }
}

uint64_t RecordBytes(uint64_t block_bytes) {
  return kRecordOverhead + block_bytes;
}

TEST(EmuDeviceTest, StartsRunningAndWalksArcsOneByOne) {
  TransitionLog::Global().Clear();
  auto dev = Make("emu:name=walk,state=1MiB");
  EXPECT_EQ(*dev->GetState(), S::kRunning);
  auto s = dev->SetState(S::kStopCopy);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NE(*s, nullptr);  // STOP -> STOP_COPY opened a session
  EXPECT_EQ(*dev->GetState(), S::kStopCopy);
  std::vector<std::pair<S, S>> arcs;
  for (const ArcRecord& r : TransitionLog::Global().Snapshot()) {
    if (r.device == "walk") arcs.push_back({r.from, r.to});
  }
  std::vector<std::pair<S, S>> want = {{S::kRunning, S::kRunningP2P},
                                       {S::kRunningP2P, S::kStop},
                                       {S::kStop, S::kStopCopy}};
  EXPECT_EQ(arcs, want);
  // STOP_COPY -> PRE_COPY is refused and the device stays where it is.
  EXPECT_FALSE(dev->SetState(S::kPreCopy).ok());
  EXPECT_EQ(*dev->GetState(), S::kStopCopy);
}

TEST(EmuDeviceTest, ArcsWithoutASessionReturnNone) {
  auto dev = Make("emu:state=1MiB");
  auto s = dev->SetState(S::kRunningP2P);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, nullptr);
  auto unsupported = Make("emu:state=1MiB,flags=stop_copy");
  EXPECT_EQ(unsupported->SetState(S::kRunningP2P).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*unsupported->GetState(), S::kRunning);
}

TEST(EmuDeviceTest, PrecopyConvergesInitialBytesCountDownThenEnomsg) {
  auto dev = Make("emu:state=4MiB,block=64KiB");
  const uint64_t full = *dev->GetStopCopyLength();
  EXPECT_EQ(full, sizeof(StreamHeader) + 64 * RecordBytes(64 << 10) +
                      kTrailerRecordBytes);
  auto s = dev->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  DataSession& session = **s;
  auto info = session.GetPrecopyInfo();
  ASSERT_TRUE(info.ok());
  // initial + dirty is what STOP_COPY would send now, less the trailer.
  EXPECT_EQ(info->initial_bytes, full - kTrailerRecordBytes);
  EXPECT_EQ(info->dirty_bytes, 0u);
  std::vector<uint8_t> buf(100000);
  uint64_t last = info->initial_bytes;
  uint64_t read = 0;
  for (;;) {
    auto r = session.Read(absl::MakeSpan(buf));
    ASSERT_TRUE(r.ok());
    if (r->outcome != ReadOutcome::kData) {
      EXPECT_EQ(r->outcome, ReadOutcome::kNoMoreForNow);
      break;
    }
    read += r->bytes;
    auto i = session.GetPrecopyInfo();
    EXPECT_EQ(i->initial_bytes, last - r->bytes);
    last = i->initial_bytes;
  }
  EXPECT_EQ(read, full - kTrailerRecordBytes);
  EXPECT_EQ(session.GetPrecopyInfo()->initial_bytes, 0u);
  // Caught up: not readable, ENOMSG again.
  EXPECT_FALSE(PollReadable(session, 0));
  auto again = session.Read(absl::MakeSpan(buf));
  EXPECT_EQ(again->outcome, ReadOutcome::kNoMoreForNow);
  EXPECT_EQ(*dev->GetStopCopyLength(), kTrailerRecordBytes);
}

TEST(EmuDeviceTest, DirtyAccountingAndReadinessWhenMoreIsDirtied) {
  // 64 MiB/s over 64 KiB blocks: one block about every millisecond.
  auto dev = Make("emu:state=2MiB,block=64KiB,dirty=64MiB/s,seed=3");
  auto s = dev->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  ReadOutcome last;
  Drain(**s, &last);
  ASSERT_EQ(last, ReadOutcome::kNoMoreForNow);
  // The poll fd wakes when the workload dirties a block.
  EXPECT_TRUE(PollReadable(**s, 2000));
  absl::SleepFor(absl::Milliseconds(20));
  auto info = (*s)->GetPrecopyInfo();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->initial_bytes, 0u);
  EXPECT_GT(info->dirty_bytes, 0u);
  EXPECT_EQ(info->dirty_bytes % RecordBytes(64 << 10), 0u);
  // The dirty set cannot exceed the device.
  EXPECT_LE(info->dirty_bytes, 32 * RecordBytes(64 << 10));
  // Reading hands out what was dirty (more may be dirtied meanwhile).
  const uint64_t before = info->dirty_bytes;
  std::vector<uint8_t> buf(before);
  auto r = (*s)->Read(absl::MakeSpan(buf));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->bytes, before);
}

TEST(EmuDeviceTest, StopCopyEndsWithPermanentEndOfStreamNeverEnomsg) {
  auto dev = Make("emu:state=1MiB,dirty=1GiB/s");
  auto s = dev->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  ASSERT_TRUE(dev->SetState(S::kPreCopyP2P).ok());
  auto none = dev->SetState(S::kStopCopy);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);  // same session continues in the saving group
  const uint64_t want = *dev->GetStopCopyLength();
  ReadOutcome last;
  EXPECT_EQ(Drain(**s, &last, 4096), want);
  EXPECT_EQ(last, ReadOutcome::kEndOfStream);
  EXPECT_TRUE(PollReadable(**s, 0));  // poll always readable at the end
  std::vector<uint8_t> buf(16);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome,
            ReadOutcome::kEndOfStream);
  EXPECT_EQ(*dev->GetStopCopyLength(), 0u);
  // PRECOPY_INFO is invalid outside PRE_COPY / PRE_COPY_P2P.
  EXPECT_FALSE((*s)->GetPrecopyInfo().ok());
  // Leaving the saving group ends the session.
  ASSERT_TRUE(dev->SetState(S::kStop).ok());
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(EmuDeviceTest, ReinitIsReportedOnceAfterTheV2OptIn) {
  auto dev = Make("emu:state=2MiB,block=64KiB,reinit_after=1MiB");
  ASSERT_TRUE(dev->EnablePrecopyInfoV2().ok());
  auto s = dev->SetState(S::kPreCopy);
  ASSERT_TRUE(s.ok() && *s);
  std::vector<uint8_t> buf(1 << 20);
  ASSERT_EQ((*s)->Read(absl::MakeSpan(buf))->bytes, buf.size());
  auto info = (*s)->GetPrecopyInfo();
  EXPECT_TRUE(info->reinit);
  // Initial data starts over: every block is owed again.
  EXPECT_GE(info->initial_bytes, 32 * RecordBytes(64 << 10));
  EXPECT_FALSE((*s)->GetPrecopyInfo()->reinit);  // reported once
}

TEST(EmuDeviceTest, ReinitFlagIsHiddenWithoutTheV2OptIn) {
  auto dev = Make("emu:state=2MiB,block=64KiB,reinit_after=1MiB");
  auto s = dev->SetState(S::kPreCopy);
  std::vector<uint8_t> buf(1 << 20);
  ASSERT_TRUE((*s)->Read(absl::MakeSpan(buf)).ok());
  EXPECT_FALSE((*s)->GetPrecopyInfo()->reinit);
}

TEST(EmuDeviceTest, ReadBandwidthIsThrottled) {
  // 8 MiB at 64 MiB/s takes at least ~125 ms (noise only makes it slower).
  auto dev = Make("emu:state=8MiB,read_bw=64MiB/s");
  auto s = dev->SetState(S::kStopCopy);
  ASSERT_TRUE(s.ok() && *s);
  const absl::Time start = absl::Now();
  ReadOutcome last;
  Drain(**s, &last);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(110));
}

TEST(EmuDeviceTest, NonBlockingThrottledReadWouldBlockThenPollWakes) {
  auto dev = Make("emu:state=8MiB,read_bw=32MiB/s");
  auto s = dev->SetState(S::kStopCopy);
  ASSERT_TRUE((*s)->SetNonBlocking(true).ok());
  std::vector<uint8_t> buf(4 << 20);
  ASSERT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome, ReadOutcome::kData);
  auto r = (*s)->Read(absl::MakeSpan(buf));
  EXPECT_EQ(r->outcome, ReadOutcome::kWouldBlock);
  EXPECT_FALSE(PollReadable(**s, 0));
  EXPECT_TRUE(PollReadable(**s, 2000));  // ~125 ms later
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->outcome, ReadOutcome::kData);
}

// Reads without blocking until the device would block; returns the bytes.
uint64_t ReadUntilWouldBlock(DataSession& s) {
  EXPECT_TRUE(s.SetNonBlocking(true).ok());
  std::vector<uint8_t> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    auto r = s.Read(absl::MakeSpan(buf));
    if (!r.ok() || r->outcome != ReadOutcome::kData) return total;
    total += r->bytes;
  }
}

// A device with buffers of its own (read_ahead=, like mlx5's two 8 MiB
// chunks) keeps saving while its reader is away: what it saved meanwhile
// is there at once. 300 ms at 64 MiB/s would be 19 MiB; 16 MiB are kept.
TEST(EmuDeviceTest, ReadAheadKeepsSavingWhileTheReaderIsAway) {
  auto dev = Make("emu:state=32MiB,read_bw=64MiB/s,read_ahead=16MiB");
  auto s = dev->SetState(S::kStopCopy);
  ASSERT_TRUE(s.ok() && *s);
  absl::SleepFor(absl::Milliseconds(300));
  const uint64_t ready = ReadUntilWouldBlock(**s);
  EXPECT_GE(ready, 15u << 20);
  EXPECT_LT(ready, 24u << 20);  // the buffers bound it, not the pause
}

// Without read_ahead= the device saves only while it is read (1 ms of
// slack): the reader's pause is lost. A host stall during the reads can
// let one more 1 MiB read through, hence the margin.
TEST(EmuDeviceTest, WithoutReadAheadAPausedReaderLosesTheTime) {
  auto dev = Make("emu:state=32MiB,read_bw=64MiB/s");
  auto s = dev->SetState(S::kStopCopy);
  ASSERT_TRUE(s.ok() && *s);
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_LT(ReadUntilWouldBlock(**s), 5u << 20);
}

// The saving starts at the arc into STOP_COPY: time the device spent
// running before it does not count as saved state.
TEST(EmuDeviceTest, ReadAheadStartsEmptyAtTheArc) {
  auto dev = Make("emu:state=32MiB,read_bw=64MiB/s,read_ahead=16MiB");
  absl::SleepFor(absl::Milliseconds(300));
  auto s = dev->SetState(S::kStopCopy);
  ASSERT_TRUE(s.ok() && *s);
  // Only what it saved since the arc (one free read, plus whatever a host
  // stall of up to ~100 ms lets it save meanwhile).
  EXPECT_LT(ReadUntilWouldBlock(**s), 12u << 20);
}

TEST(EmuDeviceTest, FailedArcLeavesErrorUntilResetAndKeepsState) {
  auto dev = Make("emu:state=1MiB,fail_arc=PRE_COPY_P2P>STOP_COPY");
  const uint64_t digest = dev->StateDigest();
  auto s = dev->SetState(S::kPreCopyP2P);
  ASSERT_TRUE(s.ok());
  auto failed = dev->SetState(S::kStopCopy);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("PRE_COPY_P2P -> STOP_COPY"),
            absl::string_view::npos);
  EXPECT_EQ(*dev->GetState(), S::kError);
  EXPECT_FALSE(dev->SetState(S::kRunning).ok());  // only reset leaves ERROR
  ASSERT_TRUE(dev->Reset().ok());
  EXPECT_EQ(*dev->GetState(), S::kRunning);
  EXPECT_EQ(dev->StateDigest(), digest);
  // The fault fires once: the next attempt goes through.
  ASSERT_TRUE(dev->SetState(S::kPreCopyP2P).ok());
  EXPECT_TRUE(dev->SetState(S::kStopCopy).ok());
}

TEST(EmuDeviceTest, ArcHookCanFailAnArc) {
  auto dev = Make("emu:state=1MiB");
  int calls = 0;
  dev->SetArcHook([&](S from, S to) {
    ++calls;
    return to == S::kStop ? absl::UnavailableError("hook says no")
                          : absl::OkStatus();
  });
  EXPECT_FALSE(dev->SetState(S::kStop).ok());
  EXPECT_EQ(calls, 2);  // RUNNING -> RUNNING_P2P, then RUNNING_P2P -> STOP
  EXPECT_EQ(*dev->GetState(), S::kError);
}

TEST(EmuDeviceTest, TransitionsTakeTransitionMsPerArc) {
  auto dev = Make("emu:state=1MiB,transition_ms=20");
  const absl::Time start = absl::Now();
  ASSERT_TRUE(dev->SetState(S::kStop).ok());  // two arcs
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(40));
}

class RoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = Make("emu:name=src,state=1GiB,dirty=32MiB/s,seed=11");
    dst_ = Make("emu:name=dst,state=1GiB,seed=99");
  }
  std::unique_ptr<EmuDevice> src_, dst_;
};

// The acceptance: 1 GiB through PRE_COPY and STOP_COPY into a
// RESUMING device ends with equal digests.
TEST_F(RoundTripTest, OneGibMigratesWithEqualDigests) {
  ASSERT_NE(src_->StateDigest(), dst_->StateDigest());
  LocalMigrationOptions opts;
  opts.switchover_dirty_bytes = 4 << 20;
  auto r = MigrateLocally(*src_, *dst_, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->precopy_bytes, 1ull << 30);
  EXPECT_GT(r->stopcopy_bytes, 0u);
  EXPECT_EQ(*src_->GetState(), S::kStop);
  EXPECT_EQ(*dst_->GetState(), S::kRunning);
  EXPECT_EQ(dst_->StateDigest(), src_->StateDigest());
}

TEST_F(RoundTripTest, OneFlippedByteFailsTheLoadAndResetRecovers) {
  TransitionLog::Global().Clear();
  LocalMigrationOptions opts;
  opts.switchover_dirty_bytes = 4 << 20;
  const uint64_t flip_at = 700ull << 20;
  opts.chunk_filter = [&](uint64_t off, absl::Span<uint8_t> c) {
    if (flip_at >= off && flip_at < off + c.size()) c[flip_at - off] ^= 0x01;
    return true;
  };
  auto r = MigrateLocally(*src_, *dst_, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  // The helper rolled back: source RUNNING, destination reset to RUNNING.
  EXPECT_EQ(*src_->GetState(), S::kRunning);
  EXPECT_EQ(*dst_->GetState(), S::kRunning);
}

TEST_F(RoundTripTest, OneDroppedChunkMakesResumingToStopFailWithError) {
  // Drive the destination by hand to see RESUMING -> STOP itself fail.
  auto in = dst_->SetState(S::kResuming);
  ASSERT_TRUE(in.ok() && *in);
  auto out = src_->SetState(S::kStopCopy);
  ASSERT_TRUE(out.ok() && *out);
  std::vector<uint8_t> buf(1 << 20);
  int chunk = 0;
  for (;;) {
    auto r = (*out)->Read(absl::MakeSpan(buf));
    ASSERT_TRUE(r.ok());
    if (r->outcome == ReadOutcome::kEndOfStream) break;
    if (chunk++ == 300) continue;  // dropped on the way
    auto w = WriteAll(**in, absl::MakeConstSpan(buf.data(), r->bytes));
    if (!w.ok()) break;  // framing broke: the device said so at once
  }
  auto st = dst_->SetState(S::kStop);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(*dst_->GetState(), S::kError);
  ASSERT_TRUE(dst_->Reset().ok());
  EXPECT_EQ(*dst_->GetState(), S::kRunning);
}

TEST(EmuResumeTest, ShortStreamWrongGeometryAndWritesPastTheEndAreRefused) {
  auto src = Make("emu:state=1MiB,seed=1");
  auto out = src->SetState(S::kStopCopy);
  std::vector<uint8_t> stream(*src->GetStopCopyLength());
  ReadOutcome last;
  size_t got = 0;
  uint8_t spare;  // a read needs room, even the one that finds the end
  for (;;) {
    auto r =
        (*out)->Read(got < stream.size() ? absl::MakeSpan(stream).subspan(got)
                                         : absl::MakeSpan(&spare, 1));
    ASSERT_TRUE(r.ok());
    if (r->outcome != ReadOutcome::kData) {
      last = r->outcome;
      break;
    }
    got += r->bytes;
  }
  ASSERT_EQ(got, stream.size());
  ASSERT_EQ(last, ReadOutcome::kEndOfStream);

  {  // Short: everything but the trailer.
    auto dst = Make("emu:state=1MiB");
    auto in = dst->SetState(S::kResuming);
    ASSERT_TRUE(WriteAll(**in, absl::MakeConstSpan(stream).first(
                                   stream.size() - kTrailerRecordBytes))
                    .ok());
    auto st = dst->SetState(S::kStop);
    EXPECT_EQ(st.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(st.status().message().find("short"), absl::string_view::npos);
  }
  {  // Another device's geometry.
    auto dst = Make("emu:state=2MiB");
    auto in = dst->SetState(S::kResuming);
    EXPECT_FALSE(WriteAll(**in, stream).ok());
    EXPECT_FALSE(dst->SetState(S::kStop).ok());
  }
  {  // Past the end.
    auto dst = Make("emu:state=1MiB");
    auto in = dst->SetState(S::kResuming);
    ASSERT_TRUE(WriteAll(**in, stream).ok());
    uint8_t extra = 0;
    EXPECT_FALSE((*in)->Write(absl::MakeConstSpan(&extra, 1)).ok());
  }
  {  // Whole and intact, written in odd-sized pieces: loads.
    auto dst = Make("emu:state=1MiB");
    auto in = dst->SetState(S::kResuming);
    for (size_t off = 0; off < stream.size(); off += 777) {
      ASSERT_TRUE(
          WriteAll(**in, absl::MakeConstSpan(stream).subspan(
                             off, std::min<size_t>(777, stream.size() - off)))
              .ok());
    }
    ASSERT_TRUE(dst->SetState(S::kRunning).ok());
    EXPECT_EQ(dst->StateDigest(), src->StateDigest());
  }
}

TEST(EmuResumeTest, SpecCorruptionIsCaughtByTheDestination) {
  auto src = Make("emu:name=c1,state=2MiB,corrupt_at=100000");
  auto dst = Make("emu:name=c2,state=2MiB");
  const uint64_t digest = src->StateDigest();
  auto r = MigrateLocally(*src, *dst);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("hash mismatch"), absl::string_view::npos)
      << r.status();
  EXPECT_EQ(*src->GetState(), S::kRunning);
  EXPECT_EQ(src->StateDigest(), digest);
  // The fault was one-shot: the retry migrates.
  ASSERT_TRUE(MigrateLocally(*src, *dst).ok());
  EXPECT_EQ(dst->StateDigest(), src->StateDigest());
}

TEST(EmuResumeTest, ALoadedDeviceCanMigrateOnward) {
  auto a = Make("emu:name=a,state=3MiB,seed=5,dirty=16MiB/s");
  auto b = Make("emu:name=b,state=3MiB,seed=6");
  auto c = Make("emu:name=c,state=3MiB,seed=7");
  ASSERT_TRUE(MigrateLocally(*a, *b).ok());
  ASSERT_TRUE(MigrateLocally(*b, *c).ok());
  EXPECT_EQ(c->StateDigest(), a->StateDigest());
}

TEST(EmuDeviceTest, MemoryStaysSmallFor64GibOfState) {
  // 64 GiB in 64 KiB blocks: a million blocks of bookkeeping, not 64 GiB.
  auto dev = Make("emu:state=64GiB");
  EXPECT_EQ(*dev->GetStopCopyLength(),
            sizeof(StreamHeader) + (1ull << 20) * RecordBytes(64 << 10) +
                kTrailerRecordBytes);
  auto s = dev->SetState(S::kStopCopy);
  std::vector<uint8_t> buf(1 << 20);
  EXPECT_EQ((*s)->Read(absl::MakeSpan(buf))->bytes, buf.size());
}

}  // namespace
}  // namespace vmig::vfio::emu
