#include "vfio/emu/spec.h"

#include "gtest/gtest.h"

namespace vmig::vfio::emu {
namespace {

TEST(EmuSpecTest, ParsesTheDocumentedExample) {
  auto spec = ParseEmuSpec(
      "emu:name=nic0,state=256MiB,dirty=32MiB/s,read_bw=2GiB/s,write_bw=2GiB/s,"
      "flags=stop_copy|p2p|pre_copy,transition_ms=5,seed=7");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "nic0");
  EXPECT_EQ(spec->state_bytes, 256u << 20);
  EXPECT_DOUBLE_EQ(spec->dirty_bytes_per_s, 32.0 * (1 << 20));
  EXPECT_DOUBLE_EQ(spec->read_bytes_per_s, 2.0 * (1 << 30));
  EXPECT_DOUBLE_EQ(spec->write_bytes_per_s, 2.0 * (1 << 30));
  EXPECT_EQ(spec->flags, kAllMigrationFlags);
  EXPECT_EQ(spec->transition, absl::Milliseconds(5));
  EXPECT_EQ(spec->seed, 7u);
  EXPECT_EQ(spec->num_blocks(), 4096u);
}

TEST(EmuSpecTest, EveryFieldHasADefault) {
  auto spec = ParseEmuSpec("emu:");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->name, "emu0");
  EXPECT_EQ(spec->state_bytes, 64u << 20);
  EXPECT_EQ(spec->flags, kAllMigrationFlags);
  EXPECT_FALSE(spec->fail_arc.has_value());
}

TEST(EmuSpecTest, FaultFields) {
  auto spec = ParseEmuSpec(
      "emu:fail_arc=PRE_COPY_P2P>STOP_COPY,corrupt_at=4096,reinit_after=1MiB");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->fail_arc->first, DeviceState::kPreCopyP2P);
  EXPECT_EQ(spec->fail_arc->second, DeviceState::kStopCopy);
  EXPECT_EQ(*spec->corrupt_at, 4096u);
  EXPECT_EQ(*spec->reinit_after, 1u << 20);
}

TEST(EmuSpecTest, ToStringRoundTrips) {
  auto spec = ParseEmuSpec(
      "emu:name=a,state=1MiB,flags=stop_copy|p2p,seed=3,"
      "fail_arc=STOP>STOP_COPY,read_bw=1GiB/s,read_ahead=16MiB");
  ASSERT_TRUE(spec.ok());
  auto again = ParseEmuSpec(spec->ToString());
  ASSERT_TRUE(again.ok()) << again.status() << " " << spec->ToString();
  EXPECT_EQ(again->ToString(), spec->ToString());
  EXPECT_EQ(again->read_ahead_bytes, std::optional<uint64_t>(16u << 20));
}

// A malformed spec is an error that names the field.
TEST(EmuSpecTest, ErrorsNameTheField) {
  struct Case {
    const char* spec;
    const char* field;
  } cases[] = {
      {"emu:state=lots", "state"},
      {"emu:state=0", "state"},
      {"emu:dirty=5MiB", "dirty"},
      {"emu:read_bw=fast", "read_bw"},
      {"emu:flags=p2p", "flags"},
      {"emu:transition_ms=-1", "transition_ms"},
      {"emu:seed=x", "seed"},
      {"emu:name=bad name", "name"},
      {"emu:block=100", "block"},
      {"emu:fail_arc=RUNNING", "fail_arc"},
      {"emu:colour=red", "colour"},
      {"emu:state=1MiB,state=2MiB", "state"},
      {"emu:state", "state"},
      {"emu:read_bw=1GiB/s,read_ahead=1", "read_ahead"},
      // Saving ahead of the reader needs a pace to save at.
      {"emu:read_ahead=16MiB", "read_ahead"},
  };
  for (const Case& c : cases) {
    auto spec = ParseEmuSpec(c.spec);
    ASSERT_FALSE(spec.ok()) << c.spec;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(std::string("'") + c.field + "'"),
              absl::string_view::npos)
        << c.spec << ": " << spec.status();
  }
  EXPECT_FALSE(ParseEmuSpec("kernel:/dev/vfio/1").ok());
}

TEST(EmuSpecTest, TheCanonicalFormOfADeviceSmallerThanABlockParsesAgain) {
  for (const char* text :
       {"emu:state=100", "emu:state=1000,block=4KiB", "emu:state=7"}) {
    auto spec = ParseEmuSpec(text);
    ASSERT_TRUE(spec.ok()) << text << ": " << spec.status();
    auto again = ParseEmuSpec(spec->ToString());
    ASSERT_TRUE(again.ok()) << spec->ToString() << ": " << again.status();
    EXPECT_EQ(again->ToString(), spec->ToString());
  }
  // A small block is still refused when the device has several of them.
  EXPECT_FALSE(ParseEmuSpec("emu:state=1MiB,block=256").ok());
}

TEST(EmuSpecTest, ANotANumberTransitionIsRefused) {
  for (const char* bad : {"emu:transition_ms=nan", "emu:transition_ms=inf",
                          "emu:transition_ms=-nan"}) {
    auto spec = ParseEmuSpec(bad);
    ASSERT_FALSE(spec.ok()) << bad;
    EXPECT_NE(spec.status().message().find("transition_ms"),
              absl::string_view::npos);
  }
}

TEST(EmuSpecTest, MoreBlocksThanTheBookkeepingBoundAreRefused) {
  auto absurd = ParseEmuSpec("emu:state=64TiB,block=512");
  ASSERT_FALSE(absurd.ok());
  EXPECT_EQ(absurd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(absurd.status().message().find("larger block="),
            absl::string_view::npos)
      << absurd.status();
  // The same size in blocks of 4 MiB is exactly at the bound.
  EXPECT_TRUE(ParseEmuSpec("emu:state=64TiB,block=4MiB").ok());
}

}  // namespace
}  // namespace vmig::vfio::emu
