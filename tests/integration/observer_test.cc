// A migration watched by a third host on the data network: source,
// destination and an observer on one bridge that floods every frame to
// every port (af_packet, three network namespaces). The observer captures
// the whole migration with tcpdump and replays and forges frames from it.
// Nothing of the device stream is in clear in the capture, every replay and
// forgery is dropped and counted, the migration verifies, and tshark
// decodes every frame as Ethernet/IPv4/UDP with no bad checksum.
#include <signal.h>

#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/integration/bridged_namespaces.h"
#include "tests/integration/migration_fixture.h"
#include "vfio/emu/stream_format.h"

namespace vmig::testing {
namespace {

std::string Which(const std::string& tool) {
  CommandResult r = RunCommand({"/bin/sh", "-c", "command -v " + tool});
  return r.exit_code == 0 ? r.out.substr(0, r.out.find('\n')) : "";
}

// "key N" lines, as frame_injector prints them.
int Field(const std::string& out, const std::string& key) {
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    int n = 0;
    if (kv.first == key && absl::SimpleAtoi(kv.second, &n)) return n;
  }
  return -1;
}

// The emulated device stream's headers as they are in memory (and, in
// clear, on the wire).
std::string StreamMagic() {
  const uint64_t m = vfio::emu::kStreamMagic;
  return std::string(reinterpret_cast<const char*>(&m), sizeof(m));
}
std::string RecordMagic() {
  const uint32_t m = vfio::emu::kRecordMagic;
  return std::string(reinterpret_cast<const char*>(&m), sizeof(m));
}

class ObserverTest : public MigrationTest {
 protected:
  void SetUp() override {
    if (!net_.ok()) VMIG_SKIP_UNLESS_CI(net_.why_not());
    tcpdump_ = Which("tcpdump");
    tshark_ = Which("tshark");
    if (tcpdump_.empty() || tshark_.empty())
      VMIG_SKIP_UNLESS_CI("needs tcpdump and tshark (scripts/setup.sh)");
    src_prefix_ = net_.Prefix("A");
    dst_prefix_ = net_.Prefix("B");
    src_dataplane_ = net_.Dataplane("A");
    dst_dataplane_ = net_.Dataplane("B");
  }
  void TearDown() override {
    // The daemons and the capture go before their namespaces.
    source_.reset();
    dest_.reset();
    if (dump_ > 0) (void)WaitExit(dump_, 0.1);
  }
  // tcpdump on the observer's port, the whole of every frame, until Stop.
  // A 64 MiB capture buffer (-B, KiB), so that a descheduled tcpdump does
  // not lose a burst (CaptureDrops() says what it lost).
  void StartCapture() {
    std::vector<std::string> argv = net_.Prefix("O");
    argv.insert(argv.end(), {tcpdump_, "-i", net_.Iface("O"), "-s", "0", "-B",
                             "65536", "-U", "-n", "-w", Capture()});
    const std::string err = dir_.path() + "/tcpdump.err";
    dump_ = Spawn(argv, {}, dir_.path() + "/tcpdump.out", err);
    ASSERT_GT(dump_, 0);
    for (int i = 0; i < 200; ++i) {
      if (ReadFileOrEmpty(err).find("listening on") != std::string::npos)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "tcpdump did not start: " << ReadFileOrEmpty(err);
  }
  std::string StopCapture() {
    // tcpdump exits on SIGINT without reading what still waits in its
    // buffer: on a busy host that was the migration's tail (the device
    // stream, after the link probe). Stop once the file has stopped
    // growing for half a second (at most 20 s).
    std::error_code ec;
    uintmax_t last = 0;
    for (int still = 0, i = 0; still < 5 && i < 200; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const uintmax_t now = std::filesystem::file_size(Capture(), ec);
      still = (!ec && now == last) ? still + 1 : 0;
      last = ec ? 0 : now;
    }
    ::kill(dump_, SIGINT);
    EXPECT_EQ(WaitExit(dump_, 20), 0);
    dump_ = -1;
    return ReadFileOrEmpty(Capture());
  }
  std::string Capture() const { return dir_.path() + "/wire.pcap"; }
  // What tcpdump said when it stopped ("N packets dropped by kernel").
  std::string CaptureDrops() const {
    return ReadFileOrEmpty(dir_.path() + "/tcpdump.err");
  }

  BridgedNamespaces net_;
  std::string tcpdump_, tshark_;
  pid_t dump_ = -1;
};

const DeviceSpec kGpu = {
    "gpu0", "emu:state=32MiB,flags=stop_copy|p2p|pre_copy,dirty=16MiB/s,seed=1",
    "emu:state=32MiB,flags=stop_copy|p2p|pre_copy,seed=2"};

TEST_F(ObserverTest,
       ReadsNothingAndItsReplaysAndForgeriesAreDroppedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(StartCapture());
  ASSERT_NO_FATAL_FAILURE(StartDaemons({kGpu}));
  // The attacker waits for data frames going past, and answers each of 20
  // with two replays and a forgery, while pre-copy streams.
  CommandResult attack;
  std::thread attacker([&] {
    std::vector<std::string> argv = net_.Prefix("O");
    argv.insert(argv.end(), {BinaryPath("tests/frame_injector"),
                             net_.Iface("O"), "7700", "20", "60"});
    attack = RunCommand(argv);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(Prepare("w1").ok());
  ASSERT_TRUE(Start("w1", 500, /*manual=*/true).ok());
  attacker.join();
  ASSERT_EQ(attack.exit_code, 0) << attack.out << attack.err;
  const int replayed = Field(attack.out, "replayed");
  const int forged = Field(attack.out, "forged");
  const int forged_fresh = Field(attack.out, "forged_fresh");
  EXPECT_EQ(replayed, 20);
  EXPECT_EQ(forged, 20);
  EXPECT_EQ(forged_fresh, 20);

  // The migration goes on and verifies.
  ASSERT_EQ(WaitPhase(*src_mig_, "w1", {v1::PHASE_READY}).phase(),
            v1::PHASE_READY);
  ASSERT_TRUE(SwitchoverOnSource("w1").ok());
  v1::Session s = WaitEnd(*src_mig_, "w1");
  ASSERT_EQ(s.phase(), v1::PHASE_COMPLETED) << s.error();
  EXPECT_EQ(s.report().data_protection(), "aes-256-gcm");
  EXPECT_EQ(Devices(*dst_dev_)["devices/gpu0"].state(),
            v1::DEVICE_STATE_RUNNING);
  EXPECT_EQ(Devices(*dst_dev_)["devices/gpu0"].emulated_digest(),
            Devices(*src_dev_)["devices/gpu0"].emulated_digest());
  EXPECT_NE(Devices(*dst_dev_)["devices/gpu0"].emulated_digest(), 0u);

  // Each replay, and each forgery under a packet number already seen, was
  // refused by the replay window (or found too old); each forgery under a
  // fresh packet number by the tag; all counted by reason at the
  // destination.
  const v1::DataplaneStatus at_dest = DataplaneStatusOf(*dest_);
  ASSERT_EQ(at_dest.ports_size(), 1);
  auto reasons = at_dest.ports(0).parse_errors_by_reason();
  EXPECT_GE(reasons["bad_tag"], static_cast<uint64_t>(forged_fresh));
  EXPECT_GE(reasons["replayed"] + reasons["too_old"],
            static_cast<uint64_t>(2 * replayed + forged));

  // The capture holds the whole migration, none of it in clear: no stream
  // header, no record header of the emulated device's stream.
  const std::string wire = StopCapture();
  EXPECT_GT(wire.size(), 32u << 20)
      << "the capture missed the migration: " << CaptureDrops();
  EXPECT_EQ(wire.find(StreamMagic()), std::string::npos);
  // The record magic is 4 bytes: in some 50 MB of ciphertext it turns up
  // by chance about once in 80 runs (2^-32 per position), so what is held
  // is that it is as rare as chance makes it, not the one per record of a
  // readable stream (the control test below finds those).
  size_t records = 0;
  for (size_t at = wire.find(RecordMagic()); at != std::string::npos;
       at = wire.find(RecordMagic(), at + 1))
    ++records;
  EXPECT_LE(records, 3u) << "record headers readable off the wire";

  // An outside check of the wire format: tshark decodes every vmigd frame
  // as Ethernet/IPv4/UDP, none malformed; every IPv4 header checksum is
  // good and the UDP checksum is absent (0, RFC 768: the AEAD tag covers
  // more), never wrong.
  CommandResult t = RunCommand({tshark_, "-n",
                                "-r",    Capture(),
                                "-o",    "ip.check_checksum:TRUE",
                                "-o",    "udp.check_checksum:TRUE",
                                "-Y",    "udp.port == 7700",
                                "-T",    "fields",
                                "-e",    "eth.type",
                                "-e",    "ip.checksum.status",
                                "-e",    "udp.checksum.status",
                                "-e",    "_ws.malformed"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  int frames = 0;
  for (absl::string_view line : absl::StrSplit(t.out, '\n')) {
    if (line.empty()) continue;
    ++frames;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    ASSERT_GE(f.size(), 3u) << line;
    EXPECT_EQ(f[0], "0x0800") << line;
    EXPECT_EQ(f[1], "1") << "IPv4 header checksum not good: " << line;
    EXPECT_NE(f[2], "0") << "bad UDP checksum: " << line;
    if (f.size() > 3) {
      EXPECT_EQ(f[3], "") << "malformed: " << line;
    }
    if (HasFailure()) break;
  }
  EXPECT_GT(frames, 3000) << "32 MiB is thousands of 9000-byte frames";
}

// The control: with both daemons configured for a trusted link (cipher
// "none"), the same observer reads the device stream off the wire, so the
// search above would find it if it were there.
TEST_F(ObserverTest, AnUnprotectedMigrationIsReadableOffTheWire) {
  auto unprotected = [](std::string dp) {
    return dp.replace(dp.find("dataplane { "), 12,
                      "dataplane { cipher: \"none\" ");
  };
  src_dataplane_ = unprotected(src_dataplane_);
  dst_dataplane_ = unprotected(dst_dataplane_);
  ASSERT_NO_FATAL_FAILURE(StartCapture());
  ASSERT_NO_FATAL_FAILURE(
      StartDaemons({{"nic0", "emu:state=4MiB,flags=stop_copy|p2p,seed=3",
                     "emu:state=4MiB,flags=stop_copy|p2p,seed=4"}}));
  MigrateAndVerify("clear");
  EXPECT_EQ(Get(*src_mig_, "clear").report().data_protection(), "none");
  const std::string wire = StopCapture();
  EXPECT_NE(wire.find(StreamMagic()), std::string::npos) << CaptureDrops();
  EXPECT_NE(wire.find(RecordMagic()), std::string::npos) << CaptureDrops();
}

}  // namespace
}  // namespace vmig::testing
