// The one-copy pipeline ceiling moves every byte of its devices through its
// ring of frame buffers, whatever the ring's size, and its verification
// fails when a destination did not get what its source holds.
#include "bench/pipeline_ceiling.h"

#include "bench/baselines.h"
#include "gtest/gtest.h"

namespace vmig::bench {
namespace {

TEST(PipelineCeilingTest, EveryByteArrivesVerifiedThroughASmallRing) {
  PipelineCeilingConfig c;
  c.streams = 3;
  c.bytes = 24 << 20;
  c.frame_bytes = 4000;  // not a divisor of a device's state: partial frames
  c.buffers = 4;         // the sender waits on the receiver again and again
  absl::StatusOr<PipelineCeilingResult> r = PipelineCeiling(c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->verified);
  EXPECT_GT(r->bytes_per_second, 0);
}

TEST(PipelineCeilingTest, OneBufferIsStrictLockstepAndStillArrives) {
  PipelineCeilingConfig c;
  c.streams = 2;
  c.bytes = 4 << 20;
  c.buffers = 1;
  absl::StatusOr<PipelineCeilingResult> r = PipelineCeiling(c);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->verified);
}

TEST(PipelineCeilingTest, AnEmptyConfigurationIsRefused) {
  PipelineCeilingConfig c;
  c.streams = 0;
  c.bytes = 1 << 20;
  EXPECT_EQ(PipelineCeiling(c).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// What every baseline's verdict rests on: destinations that were given
// nothing do not match their sources.
TEST(BaselineDevicesTest, DestinationsGivenNothingFailVerification) {
  absl::StatusOr<BaselineDevices> d = MakeBaselineDevices(2, 2 << 20);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->Verify());
}

}  // namespace
}  // namespace vmig::bench
