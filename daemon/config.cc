#include "daemon/config.h"

#include <arpa/inet.h>
#include <openssl/sha.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/bounded.h"
#include "daemon/config_checks.h"
#include "daemon/device_registry.h"
#include "daemon/measures/calibration_file.h"
#include "dataplane/aead.h"
#include "dataplane/port.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "metrics/http_endpoint.h"
#include "proto/convert.h"
#include "vfio/emu/spec.h"

namespace vmig::daemon {
namespace {

// Collects the text-format parser's complaints with their line numbers.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(std::string where) : where_(std::move(where)) {}
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ =
          absl::StrCat(where_, ":", line + 1, ":", column + 1, ": ", message);
    }
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string where_;
  std::string first_;
};

absl::Status Merge(const std::string& text, const std::string& where,
                   v1::DaemonConfig& config) {
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors(where);
  parser.RecordErrorsTo(&errors);
  if (!parser.MergeFromString(text, &config)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(where, ": cannot parse")
                               : errors.first());
  }
  return absl::OkStatus();
}

absl::Status OptionError(absl::string_view option, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("option ", option, ": ", why));
}

bool ParseHostPort(absl::string_view text, std::string* host, uint32_t* port) {
  size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  *host = std::string(text.substr(0, colon));
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(text.substr(colon + 1), port) && *port > 0 &&
         *port < 65536;
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr a4;
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127;
  }
  in6_addr a6;
  return inet_pton(AF_INET6, host.c_str(), &a6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&a6);
}

}  // namespace

absl::StatusOr<std::vector<unsigned>> ParseLcores(const std::string& text) {
  constexpr unsigned kMaxLcore = 1023;
  std::vector<unsigned> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    // One core ("3") or one rising range ("3-4"): "1-2-3", "1-" and "-2"
    // are not lists of cores.
    std::vector<absl::string_view> r = absl::StrSplit(part, '-');
    unsigned a = 0, b = 0;
    if (r.size() > 2 || !absl::SimpleAtoi(r[0], &a) ||
        (r.size() == 2 && !absl::SimpleAtoi(r[1], &b))) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' is not a list of cores like 1,3-4"));
    }
    if (r.size() == 1) b = a;
    if (b < a || b > kMaxLcore) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "': ranges go up, to at most ", kMaxLcore));
    }
    for (unsigned c = a; c <= b; ++c) out.push_back(c);
  }
  return out;
}

void ApplyDefaults(v1::DaemonConfig& c) {
  auto* l = c.mutable_listen();
  if (l->unix_socket().empty()) l->set_unix_socket("/run/vmigd/vmigd.sock");
  if (l->unix_socket_mode() == 0) l->set_unix_socket_mode(0660);
  if (c.log_level() == v1::DaemonConfig::LOG_LEVEL_UNSPECIFIED) {
    c.set_log_level(v1::DaemonConfig::LOG_LEVEL_INFO);
  }
  auto* lim = c.mutable_limits();
  if (lim->max_sessions() == 0) lim->set_max_sessions(16);
  if (lim->max_devices() == 0) lim->set_max_devices(64);
  if (lim->max_watchers() == 0) lim->set_max_watchers(32);
  if (lim->max_message_bytes() == 0) lim->set_max_message_bytes(4 << 20);
  if (lim->max_memory_bytes() == 0) lim->set_max_memory_bytes(1ull << 30);
  if (lim->prepared_expiry_ms() == 0) lim->set_prepared_expiry_ms(600000);
  auto* dp = c.mutable_dataplane();
  if (dp->lcores().empty()) dp->set_lcores("1");
  if (dp->credit_window_bytes() == 0) dp->set_credit_window_bytes(8 << 20);
  if (dp->cipher().empty()) dp->set_cipher("aes-256-gcm");
  for (auto& p : *dp->mutable_ports()) {
    if (p.ipv4().empty()) p.set_ipv4("169.254.77.1");
    if (p.udp_port() == 0) p.set_udp_port(7700);
  }
  auto* peer = c.mutable_peer();
  if (peer->handshake_timeout_ms() == 0) peer->set_handshake_timeout_ms(10000);
  if (peer->switchover_ack_timeout_ms() == 0)
    peer->set_switchover_ack_timeout_ms(5000);
  if (peer->commit_timeout_ms() == 0) peer->set_commit_timeout_ms(30000);
  if (peer->abort_timeout_ms() == 0) peer->set_abort_timeout_ms(2000);
  if (peer->heartbeat_interval_ms() == 0) peer->set_heartbeat_interval_ms(500);
  if (peer->liveness_timeout_ms() == 0) peer->set_liveness_timeout_ms(3000);
}

PeerDeadlines PeerDeadlinesOf(const v1::PeerConfig& p) {
  PeerDeadlines d;
  d.handshake = absl::Milliseconds(p.handshake_timeout_ms());
  d.switchover_ack = absl::Milliseconds(p.switchover_ack_timeout_ms());
  d.commit = absl::Milliseconds(p.commit_timeout_ms());
  d.abort = absl::Milliseconds(p.abort_timeout_ms());
  d.heartbeat_interval = absl::Milliseconds(p.heartbeat_interval_ms());
  d.liveness = absl::Milliseconds(p.liveness_timeout_ms());
  return d;
}

namespace {

// Each port's workers are its own: with several ports every port names its
// lcores, and no lcore serves two ports or is the main lcore.
absl::Status ValidatePortLcores(const v1::DataplaneConfig& dp) {
  std::set<unsigned> taken;
  for (int i = 0; i < dp.ports_size(); ++i) {
    const std::string opt = absl::StrCat("dataplane.ports[", i, "].lcores");
    const std::string& text = dp.ports(i).lcores();
    if (text.empty()) {
      if (dp.ports_size() > 1)
        return OptionError(opt, "is required when several ports are set");
      continue;
    }
    absl::StatusOr<std::vector<unsigned>> cores = ParseLcores(text);
    if (!cores.ok()) return OptionError(opt, cores.status().message());
    for (unsigned l : *cores) {
      if (!taken.insert(l).second)
        return OptionError(opt, absl::StrCat("lcore ", l, " serves two ports"));
      if (dp.has_main_lcore() && l == dp.main_lcore())
        return OptionError(opt,
                           absl::StrCat("lcore ", l, " is the main lcore"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePeer(const v1::PeerConfig& p) {
  const std::pair<const char*, uint32_t> timeouts[] = {
      {"peer.handshake_timeout_ms", p.handshake_timeout_ms()},
      {"peer.switchover_ack_timeout_ms", p.switchover_ack_timeout_ms()},
      {"peer.commit_timeout_ms", p.commit_timeout_ms()},
      {"peer.abort_timeout_ms", p.abort_timeout_ms()},
      {"peer.heartbeat_interval_ms", p.heartbeat_interval_ms()},
      {"peer.liveness_timeout_ms", p.liveness_timeout_ms()}};
  for (const auto& [name, ms] : timeouts) {
    if (ms < 10 || ms > 600000)
      return OptionError(name, "must be 10 to 600000");
  }
  for (const std::string& id : p.allowed_identities()) {
    if (id.empty() || id.size() > 1024) {
      return OptionError("peer.allowed_identities",
                         "an identity is 1 to 1024 characters");
    }
  }
  if (p.liveness_timeout_ms() < 2 * p.heartbeat_interval_ms()) {
    return OptionError("peer.liveness_timeout_ms",
                       "must be at least twice peer.heartbeat_interval_ms (one "
                       "lost heartbeat must not end a session)");
  }
  const auto& t = p.tls();
  const bool any = !t.cert_file().empty() || !t.key_file().empty() ||
                   !t.ca_file().empty() || !t.server_name().empty();
  if (!any) return absl::OkStatus();
  if (t.cert_file().empty() != t.key_file().empty()) {
    return OptionError("peer.tls", "cert_file and key_file go together");
  }
  if (t.ca_file().empty()) {
    return OptionError("peer.tls.ca_file",
                       "is required: it is what a peer is checked against");
  }
  const std::pair<const char*, const std::string*> files[] = {
      {"peer.tls.cert_file", &t.cert_file()},
      {"peer.tls.key_file", &t.key_file()},
      {"peer.tls.ca_file", &t.ca_file()}};
  for (const auto& [option, f] : files) {
    if (f->empty()) continue;
    if (absl::Status s = CheckPemFile(*f); !s.ok())
      return OptionError(option, s.message());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateConfig(const v1::DaemonConfig& c) {
  if (absl::Status s = CheckEnumValues(c); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("option ", s.message()));
  }
  const auto& l = c.listen();
  if (l.unix_socket().front() != '/') {
    return OptionError("listen.unix_socket", "must be an absolute path");
  }
  if (l.unix_socket().size() >= 108) {
    return OptionError("listen.unix_socket",
                       "is longer than a Unix socket path may be");
  }
  if (l.unix_socket_mode() > 0777) {
    return OptionError("listen.unix_socket_mode",
                       "must be a file mode up to 0777");
  }
  if (!c.state_dir().empty() && c.state_dir().front() != '/') {
    return OptionError("state_dir", "must be an absolute path");
  }
  if (!c.calibration_file().empty()) {
    if (c.calibration_file().front() != '/')
      return OptionError("calibration_file", "must be an absolute path");
    if (absl::StatusOr<v1::Calibration> cal =
            ReadCalibrationFile(c.calibration_file());
        !cal.ok())
      return OptionError("calibration_file", cal.status().message());
  }
  if (!l.tcp_address().empty()) {
    std::string host;
    uint32_t port;
    if (!ParseHostPort(l.tcp_address(), &host, &port)) {
      return OptionError(
          "listen.tcp_address",
          absl::StrCat("'", l.tcp_address(), "' is not host:port"));
    }
    const bool tls =
        !l.tls().cert_file().empty() || !l.tls().key_file().empty();
    if (tls && (l.tls().cert_file().empty() || l.tls().key_file().empty())) {
      return OptionError("listen.tls", "cert_file and key_file go together");
    }
    if (l.tls().require_client_cert() && l.tls().ca_file().empty()) {
      return OptionError("listen.tls.ca_file",
                         "is required with require_client_cert");
    }
    if (!tls && !IsLoopback(host) && !l.allow_insecure_tcp()) {
      return OptionError(
          "listen.tcp_address",
          absl::StrCat("plaintext TCP on non-loopback address '", host,
                       "' is refused: configure listen.tls or set "
                       "listen.allow_insecure_tcp"));
    }
    const std::pair<const char*, const std::string*> files[] = {
        {"listen.tls.cert_file", &l.tls().cert_file()},
        {"listen.tls.key_file", &l.tls().key_file()},
        {"listen.tls.ca_file", &l.tls().ca_file()}};
    for (const auto& [option, f] : files) {
      if (f->empty()) continue;
      if (absl::Status s = CheckPemFile(*f); !s.ok())
        return OptionError(option, s.message());
    }
  } else if (!l.tls().cert_file().empty()) {
    return OptionError("listen.tls", "is set but listen.tcp_address is empty");
  }
  const auto& lim = c.limits();
  if (lim.max_sessions() > 4096)
    return OptionError("limits.max_sessions", "at most 4096");
  if (lim.max_outgoing_sessions() > lim.max_sessions()) {
    return OptionError("limits.max_outgoing_sessions",
                       "at most limits.max_sessions");
  }
  if (lim.max_incoming_sessions() > lim.max_sessions()) {
    return OptionError("limits.max_incoming_sessions",
                       "at most limits.max_sessions");
  }
  if (lim.max_devices() > 4096)
    return OptionError("limits.max_devices", "at most 4096");
  if (lim.max_watchers() > 4096)
    return OptionError("limits.max_watchers", "at most 4096");
  if (lim.max_message_bytes() < 4096 ||
      lim.max_message_bytes() > (256u << 20)) {
    return OptionError("limits.max_message_bytes", "must be 4 KiB to 256 MiB");
  }
  if (lim.max_memory_bytes() < (16ull << 20)) {
    return OptionError("limits.max_memory_bytes", "must be at least 16 MiB");
  }
  std::set<std::string> ids;
  for (int i = 0; i < c.devices_size(); ++i) {
    const auto& d = c.devices(i);
    const std::string opt = absl::StrCat("devices[", i, "]");
    if (!IsValidId(d.device_id())) {
      return OptionError(absl::StrCat(opt, ".device_id"),
                         "must be 1-64 characters of [A-Za-z0-9._-]");
    }
    if (!ids.insert(d.device_id()).second) {
      return OptionError(absl::StrCat(opt, ".device_id"),
                         absl::StrCat("'", d.device_id(), "' is given twice"));
    }
    if (d.source_case() == v1::AttachDeviceRequest::SOURCE_NOT_SET) {
      return OptionError(opt, "needs emulated_spec, kernel or fd_socket");
    }
    if (d.source_case() == v1::AttachDeviceRequest::kEmulatedSpec) {
      if (!c.allow_emulated_devices()) {
        return OptionError(absl::StrCat(opt, ".emulated_spec"),
                           "emulated devices are off (set "
                           "allow_emulated_devices)");
      }
      auto spec = vfio::emu::ParseEmuSpec(d.emulated_spec());
      if (!spec.ok())
        return OptionError(absl::StrCat(opt, ".emulated_spec"),
                           spec.status().message());
      if (!spec->state_file.empty()) {
        return OptionError(absl::StrCat(opt, ".emulated_spec"),
                           "state_file is chosen by the daemon (under "
                           "state_dir), not by the configuration");
      }
    }
    if (d.source_case() == v1::AttachDeviceRequest::kKernel) {
      if (std::optional<PathRefusal> r = RefuseNonVfioPath(d.kernel()))
        return OptionError(absl::StrCat(opt, ".", r->field), r->why);
    }
  }
  if (c.devices_size() > static_cast<int>(lim.max_devices())) {
    return OptionError("devices", "more devices than limits.max_devices");
  }
  if (absl::Status s = ValidatePeer(c.peer()); !s.ok()) return s;
  if (!c.metrics().listen_address().empty()) {
    if (std::string why =
            metrics::CheckListenAddress(c.metrics().listen_address());
        !why.empty())
      return OptionError("metrics.listen_address", why);
  }
  // An allow-list is checked against verified client certificates: without
  // mutual TLS on a TCP listener no peer could ever match it.
  if (c.peer().allowed_identities_size() > 0 &&
      (c.listen().tcp_address().empty() ||
       !c.listen().tls().require_client_cert())) {
    return OptionError("peer.allowed_identities",
                       "needs listen.tcp_address with mutual TLS "
                       "(listen.tls.require_client_cert)");
  }
  const auto& dp = c.dataplane();
  if (absl::Status s = ValidatePortLcores(dp); !s.ok()) return s;
  std::map<std::string, int> ports;  // name -> index
  for (int i = 0; i < dp.ports_size(); ++i) {
    const auto& p = dp.ports(i);
    const std::string opt = absl::StrCat("dataplane.ports[", i, "]");
    if (!IsValidId(p.name())) {
      return OptionError(absl::StrCat(opt, ".name"),
                         absl::StrCat(Bounded(p.name()),
                                      " is not an id (1-64 characters of "
                                      "[A-Za-z0-9._-])"));
    }
    if (auto [it, fresh] = ports.emplace(p.name(), i); !fresh) {
      return OptionError(absl::StrCat(opt, ".name"),
                         absl::StrCat("'", p.name(),
                                      "' is already the name of "
                                      "dataplane.ports[",
                                      it->second, "]"));
    }
    if (p.kind_case() == v1::DataplanePort::KIND_NOT_SET) {
      return OptionError(opt, "needs memif, af_packet or pci");
    }
    if (p.kind_case() == v1::DataplanePort::kMemif) {
      if (absl::Status s = CheckMemifArgs(p.memif()); !s.ok())
        return OptionError(absl::StrCat(opt, ".memif"), s.message());
    }
    in_addr a;
    if (inet_pton(AF_INET, p.ipv4().c_str(), &a) != 1) {
      return OptionError(
          absl::StrCat(opt, ".ipv4"),
          absl::StrCat("'", p.ipv4(), "' is not an IPv4 address"));
    }
    if (p.udp_port() > 65535)
      return OptionError(absl::StrCat(opt, ".udp_port"), "> 65535");
    if (p.mtu() != 0 && (p.mtu() < 576 || p.mtu() > dataplane::kMaxMtu)) {
      return OptionError(absl::StrCat(opt, ".mtu"),
                         absl::StrCat("must be 576 to ", dataplane::kMaxMtu));
    }
    if (p.max_rate() != 0 && p.max_rate() < kMinBandwidth) {
      return OptionError(absl::StrCat(opt, ".max_rate"),
                         absl::StrCat("must be 0 (no cap) or at least ",
                                      kMinBandwidth, " bytes/s"));
    }
  }
  if (dp.credit_window_bytes() < (64u << 10) ||
      dp.credit_window_bytes() > lim.max_memory_bytes()) {
    return OptionError("dataplane.credit_window_bytes",
                       "must be 64 KiB to limits.max_memory_bytes");
  }
  if (!dp.file_prefix().empty()) {
    if (absl::Status s = CheckFilePrefix(dp.file_prefix()); !s.ok())
      return OptionError("dataplane.file_prefix", s.message());
  }
  if (dp.ports_size() <= 1 && dp.has_main_lcore() &&
      (dp.ports_size() == 0 || dp.ports(0).lcores().empty())) {
    absl::StatusOr<std::vector<unsigned>> workers = ParseLcores(dp.lcores());
    if (workers.ok() && std::find(workers->begin(), workers->end(),
                                  dp.main_lcore()) != workers->end()) {
      return OptionError(
          "dataplane.main_lcore",
          absl::StrCat("lcore ", dp.main_lcore(),
                       " is also a worker lcore (dataplane.lcores)"));
    }
  }
  if (!dataplane::ProtectionFromName(dp.cipher())) {
    return OptionError(
        "dataplane.cipher",
        absl::StrCat("'", dp.cipher(), "' is not aes-256-gcm or none"));
  }
  if (absl::Status s = CheckFrameFaults(dp.inject_faults()); !s.ok())
    return OptionError("dataplane.inject_faults", s.message());
  if (dp.mbufs() != 0 && (dp.mbufs() < 1024 || dp.mbufs() > (1u << 20))) {
    return OptionError("dataplane.mbufs",
                       "must be 0 (auto) or 1024 to 1048576");
  }
  if (absl::StatusOr<std::vector<unsigned>> cores = ParseLcores(dp.lcores());
      !cores.ok()) {
    return OptionError("dataplane.lcores", cores.status().message());
  }
  if (!dp.cpu_set().empty()) {
    if (absl::StatusOr<std::vector<unsigned>> cpus = ParseLcores(dp.cpu_set());
        !cpus.ok()) {
      return OptionError("dataplane.cpu_set", cpus.status().message());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::DaemonConfig> LoadConfig(
    const std::string& path, const std::vector<std::string>& overrides) {
  v1::DaemonConfig config;
  if (!path.empty()) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "configuration file ", Bounded(path), " is a directory"));
    }
    std::ifstream in(path);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read configuration file ", Bounded(path)));
    }
    std::stringstream text;
    text << in.rdbuf();
    if (absl::Status s = Merge(text.str(), path, config); !s.ok()) return s;
  }
  for (size_t i = 0; i < overrides.size(); ++i) {
    if (absl::Status s =
            Merge(overrides[i], absl::StrCat("--set #", i + 1), config);
        !s.ok()) {
      return s;
    }
  }
  ApplyDefaults(config);
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  return config;
}

std::string ConfigDigest(const v1::DaemonConfig& config) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    config.SerializeToCodedStream(&coded);
  }
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         md);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), 8));
}

}  // namespace vmig::daemon
