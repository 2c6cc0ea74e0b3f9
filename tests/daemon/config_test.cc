// Configuration loading: defaults, the peer section, and options refused
// with the option named.
#include "daemon/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace vmig::daemon {
namespace {

absl::Status Load(const std::string& text) {
  return LoadConfig("", {text}).status();
}

TEST(ConfigTest, DefaultsFillThePeerDeadlines) {
  absl::StatusOr<v1::DaemonConfig> c = LoadConfig("", {});
  ASSERT_TRUE(c.ok()) << c.status();
  const PeerDeadlines d = PeerDeadlinesOf(c->peer());
  EXPECT_EQ(d.handshake, absl::Seconds(10));
  EXPECT_EQ(d.switchover_ack, absl::Seconds(5));
  EXPECT_EQ(d.commit, absl::Seconds(30));
  EXPECT_EQ(d.abort, absl::Seconds(2));
  EXPECT_EQ(c->limits().max_sessions(), 16u);
  EXPECT_EQ(c->dataplane().credit_window_bytes(), 8u << 20);
}

// Values that used to pass --check-config and fail only at run time (or
// never): each refused now, naming its option.
TEST(ConfigTest, ValuesThatWouldFailLaterAreRefusedNow) {
  const std::string dir =
      ::testing::TempDir() + "/config_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/adir");
  std::ofstream(dir + "/not.pem") << "not a certificate\n";
  const std::string tcp = "listen { tcp_address: \"127.0.0.1:7443\" tls { ";
  const std::pair<std::string, const char*> cases[] = {
      {tcp + "cert_file: \"" + dir + "/adir\" key_file: \"" + dir +
           "/adir\" } }",
       "listen.tls.cert_file"},
      {tcp + "cert_file: \"" + dir + "/not.pem\" key_file: \"" + dir +
           "/not.pem\" } }",
       "listen.tls.cert_file"},
      {"peer { tls { ca_file: \"" + dir + "/not.pem\" } }", "peer.tls.ca_file"},
      {"dataplane { lcores: \"1\" main_lcore: 1 }", "dataplane.main_lcore"},
      {"dataplane { ports { name: \"p\" memif: \"blah=1\" } }",
       "dataplane.ports[0].memif"},
      {"dataplane { ports { name: \"p\" memif: \"role=king\" } }",
       "dataplane.ports[0].memif"},
      {"dataplane { ports { name: \"p\" memif: \"zero-copy=maybe\" } }",
       "dataplane.ports[0].memif"},
      {"dataplane { file_prefix: \"../../etc/x\" }", "dataplane.file_prefix"},
      {"dataplane { file_prefix: \"a/b\" }", "dataplane.file_prefix"},
      {"allow_emulated_devices: true "
       "devices { device_id: \"a\" emulated_spec: \"emu:state=banana\" }",
       "devices[0].emulated_spec"},
      // Files and nodes the daemon would write or open as root.
      {"allow_emulated_devices: true devices { device_id: \"a\" "
       "emulated_spec: \"emu:state=1MiB,state_file=/etc/passwd\" }",
       "devices[0].emulated_spec"},
      {"devices { device_id: \"a\" kernel { cdev: \"/dev/watchdog\" } }",
       "devices[0].kernel.cdev"},
      {"devices { device_id: \"a\" kernel { group: \"/dev/vfio/../sda\" "
       "device_name: \"0000:00:01.0\" } }",
       "devices[0].kernel.group"},
  };
  for (const auto& [text, option] : cases) {
    absl::Status s = Load(text);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_NE(s.message().find(option), std::string::npos)
        << text << ": " << s.message();
  }
  // A directory given as the configuration file.
  absl::Status s = LoadConfig(dir + "/adir", {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("is a directory"), std::string::npos);
  // And what is right still passes.
  EXPECT_TRUE(Load("dataplane { file_prefix: \"vmigd-a_1\" ports { name: "
                   "\"p\" memif: \"role=server,socket=/run/x.sock,"
                   "socket-abstract=no,zero-copy=yes,bsize=9216\" } }")
                  .ok());
  std::filesystem::remove_all(dir);
}

TEST(ConfigTest, TheDataPlaneIsEncryptedUnlessConfiguredNone) {
  absl::StatusOr<v1::DaemonConfig> c = LoadConfig("", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dataplane().cipher(), "aes-256-gcm");
  EXPECT_FALSE(c->peer().allow_unix_peers());
  c = LoadConfig("", {"dataplane { cipher: \"none\" }"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dataplane().cipher(), "none");
}

TEST(ConfigTest, PeerDeadlinesComeFromTheConfiguration) {
  absl::StatusOr<v1::DaemonConfig> c =
      LoadConfig("", {"peer { commit_timeout_ms: 1234 }"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(PeerDeadlinesOf(c->peer()).commit, absl::Milliseconds(1234));
}

TEST(ConfigTest, BadOptionsAreRefusedByName) {
  const std::pair<const char*, const char*> cases[] = {
      {"peer { handshake_timeout_ms: 5 }", "peer.handshake_timeout_ms"},
      {"peer { abort_timeout_ms: 9999999 }", "peer.abort_timeout_ms"},
      {"peer { tls { cert_file: \"/etc/hostname\" } }", "peer.tls"},
      {"peer { tls { server_name: \"x\" } }", "peer.tls.ca_file"},
      {"peer { tls { ca_file: \"/nonexistent/ca.pem\" } }", "peer.tls"},
      {"dataplane { ports { name: \"a\" memif: \"\" } ports { name: \"b\" "
       "memif: \"\" } }",
       "dataplane.ports[0].lcores"},
      {"dataplane { ports { name: \"a\" memif: \"\" lcores: \"1-2\" } "
       "ports { name: \"b\" memif: \"\" lcores: \"2\" } }",
       "dataplane.ports[1].lcores"},
      {"dataplane { main_lcore: 3 ports { name: \"a\" memif: \"\" lcores: "
       "\"3\" } }",
       "dataplane.ports[0].lcores"},
      {"dataplane { credit_window_bytes: 1 }", "dataplane.credit_window_bytes"},
      {"limits { max_sessions: 100000 }", "limits.max_sessions"},
      {"listen { unix_socket: \"relative.sock\" }", "listen.unix_socket"},
      {"devices { device_id: \"bad id\" emulated_spec: \"emu:\" }",
       "devices[0].device_id"},
      {"dataplane { cipher: \"rot13\" }", "dataplane.cipher"},
      {"dataplane { cipher: \"AES-256-GCM\" }", "dataplane.cipher"},
      // An allow-list only means something on a mutual-TLS TCP listener.
      {"peer { allowed_identities: \"vmigd-a\" }", "peer.allowed_identities"},
      {"listen { tcp_address: \"127.0.0.1:7443\" } peer { "
       "allowed_identities: \"vmigd-a\" }",
       "peer.allowed_identities"},
      {"peer { allowed_identities: \"\" }", "peer.allowed_identities"},
      // Injected frame faults: probabilities, together at most one.
      {"dataplane { inject_faults { drop: 1.5 } }",
       "dataplane.inject_faults: drop"},
      {"dataplane { inject_faults { corrupt: -0.1 } }",
       "dataplane.inject_faults: corrupt"},
      {"dataplane { inject_faults { reorder: nan } }",
       "dataplane.inject_faults: reorder"},
      {"dataplane { inject_faults { drop: 0.6 duplicate: 0.6 } }",
       "dataplane.inject_faults: the probabilities add up to"},
      // Bandwidth caps and admission limits.
      {"dataplane { ports { name: \"a\" memif: \"\" max_rate: 999 } }",
       "dataplane.ports[0].max_rate"},
      {"limits { max_sessions: 4 max_outgoing_sessions: 5 }",
       "limits.max_outgoing_sessions"},
      {"limits { max_sessions: 4 max_incoming_sessions: 9 }",
       "limits.max_incoming_sessions"},
  };
  for (const auto& [text, option] : cases) {
    absl::Status s = Load(text);
    EXPECT_FALSE(s.ok()) << text;
    EXPECT_NE(s.message().find(option), std::string::npos)
        << text << ": " << s.message();
  }
}

// Emulated devices are off unless allowed: a production daemon's
// configuration (the installed one) takes none.
TEST(ConfigTest, EmulatedDevicesAreOffUnlessAllowed) {
  const std::string dev =
      "devices { device_id: \"e\" emulated_spec: \"emu:state=1MiB\" }";
  absl::Status s = Load(dev);
  EXPECT_NE(s.message().find("devices[0].emulated_spec: emulated devices are "
                             "off (set allow_emulated_devices)"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(Load("allow_emulated_devices: true " + dev).ok());
}

// Every enum option is held to its enum's names (proto3 keeps any number),
// and a repeated port name says which port had it first.
TEST(ConfigTest, AnEnumValueOutsideItsEnumAndADuplicatePortAreNamed) {
  absl::Status s = Load("log_level: 99");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("option log_level: 99 is not one of "
                             "LOG_LEVEL_TRACE"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(Load("log_level: LOG_LEVEL_DEBUG").ok());
  s = Load(
      "dataplane { ports { name: \"p\" memif: \"\" lcores: \"1\" } "
      "ports { name: \"p\" memif: \"\" lcores: \"2\" } }");
  EXPECT_NE(s.message().find("dataplane.ports[1].name: 'p' is already the "
                             "name of dataplane.ports[0]"),
            std::string::npos)
      << s.message();
  s = Load("dataplane { ports { name: \"a b\" memif: \"\" } }");
  EXPECT_NE(s.message().find("'a b' is not an id"), std::string::npos)
      << s.message();
}

TEST(ConfigTest, SeveralPortsEachWithTheirOwnLcores) {
  EXPECT_TRUE(Load("dataplane { main_lcore: 0 ports { name: \"a\" memif: "
                   "\"\" lcores: \"1\" } ports { name: \"b\" memif: \"\" "
                   "lcores: \"2-3\" } }")
                  .ok());
}

TEST(ConfigTest, ParseLcoresTakesDpdkListSyntax) {
  auto l = ParseLcores("1,3-4");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(*l, (std::vector<unsigned>{1, 3, 4}));
  EXPECT_FALSE(ParseLcores("x").ok());
}

TEST(ConfigTest, ParseLcoresRefusesWhatIsNotACoreOrOneRisingRange) {
  for (const char* bad :
       {"1-2-3", "2-5-1", "1-", "-2", "4-2", "1,,2", "", "1-2,", "99999"}) {
    EXPECT_FALSE(ParseLcores(bad).ok()) << bad;
  }
  EXPECT_EQ(*ParseLcores("0-1,3"), (std::vector<unsigned>{0, 1, 3}));
}

}  // namespace
}  // namespace vmig::daemon

namespace vmig::daemon {
namespace {

TEST(ConfigTest, CapsAndAdmissionLimitsWithinRangeAreTaken) {
  absl::StatusOr<v1::DaemonConfig> c = LoadConfig(
      "", {"dataplane { ports { name: \"a\" memif: \"\" max_rate: "
           "1000000 } }",
           "limits { max_outgoing_sessions: 2 max_incoming_sessions: 3 }"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->dataplane().ports(0).max_rate(), 1000000u);
  EXPECT_EQ(c->limits().max_outgoing_sessions(), 2u);
}

TEST(ConfigTest, ACalibrationFileIsCheckedWithTheConfiguration) {
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "/good-calibration.textproto";
  std::ofstream(good) << "version: 1 classes { device_class: \"c\" "
                         "read_bytes_per_second: 1e8 }";
  EXPECT_TRUE(LoadConfig("", {"calibration_file: \"" + good + "\""}).ok());
  const std::string bad = dir + "/bad-calibration.textproto";
  std::ofstream(bad) << "version: 1 classes { device_class: \"c\" "
                        "arc_ns: -4 }";
  struct Case {
    std::string file, names;
  } cases[] = {{"relative.textproto", "must be an absolute path"},
               {dir + "/absent.textproto", "cannot read"},
               {bad, "class c: arc_ns"}};
  for (const Case& c : cases) {
    absl::Status s =
        LoadConfig("", {"calibration_file: \"" + c.file + "\""}).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.file;
    EXPECT_NE(s.message().find("calibration_file"), std::string::npos) << s;
    EXPECT_NE(s.message().find(c.names), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace vmig::daemon
