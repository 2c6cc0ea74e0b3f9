#include "bench/transport_node.h"

#include <arpa/inet.h>
#include <rte_ethdev.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/units.h"
#include "dataplane/eal.h"
#include "dataplane/transport.h"
#include "vfio/emu/emu_device.h"

namespace vmig::bench {
namespace {

using dataplane::StreamRole;

struct NodeOptions {
  std::string role;  // send | recv
  std::string port = "memif";
  std::string socket;  // memif socket path
  std::string iface;   // af_packet interface
  int streams = 4;
  uint64_t bytes = 1ull << 30;  // total, split over streams
  uint64_t window = 8 << 20;
  dataplane::FaultConfig faults;
  std::string prefix = "vmig-node";
  std::string lcores = "0,1";
  unsigned main_lcore = 0, worker_lcore = 1;
  // More than one: lcores 1..workers float over all CPUs with the main
  // lcore 0 (a 2-CPU host has no core to pin each to).
  unsigned workers = 1;
  uint32_t mtu = 0;  // 0: the port's default
  std::string local_ip = "169.254.77.1", peer_ip = "169.254.77.2";
  uint32_t session = 7;
  uint64_t token = 0x5eed;
  // Frame protection, and (aes-256-gcm) a file of two fresh 32-byte keys,
  // source-to-destination then destination-to-source, that the parent
  // wrote (as the daemons' handshake would agree them).
  dataplane::Protection cipher = dataplane::Protection::kAes256Gcm;
  std::string keys_file;
  int timeout_s = 600;
  // recv: created once its streams are registered; send: waited for before
  // streaming (the daemon's handshake plays this part).
  std::string ready_file;
};

bool ParseArgs(const std::vector<std::string>& args, NodeOptions& o) {
  std::map<std::string, std::string> kv;
  for (size_t i = 0; i + 1 < args.size(); i += 2) kv[args[i]] = args[i + 1];
  auto num = [&](const char* k, auto* out) {
    if (!kv.count(k)) return true;
    return absl::SimpleAtoi(kv[k], out);
  };
  auto dbl = [&](const char* k, double* out) {
    if (!kv.count(k)) return true;
    return absl::SimpleAtod(kv[k], out);
  };
  o.role = kv["--role"];
  if (kv.count("--port")) o.port = kv["--port"];
  o.socket = kv["--socket"];
  o.iface = kv["--iface"];
  o.ready_file = kv["--ready-file"];
  if (kv.count("--prefix")) o.prefix = kv["--prefix"];
  if (kv.count("--local-ip")) o.local_ip = kv["--local-ip"];
  if (kv.count("--peer-ip")) o.peer_ip = kv["--peer-ip"];
  if (kv.count("--bytes")) {
    auto b = ParseBytes(kv["--bytes"]);
    if (!b.ok()) return false;
    o.bytes = *b;
  }
  if (kv.count("--cipher")) {
    auto c = dataplane::ProtectionFromName(kv["--cipher"]);
    if (!c) return false;
    o.cipher = *c;
  }
  o.keys_file = kv["--keys-file"];
  if (kv.count("--window")) {
    auto b = ParseBytes(kv["--window"]);
    if (!b.ok()) return false;
    o.window = *b;
  }
  return (o.role == "send" || o.role == "recv") &&
         num("--streams", &o.streams) && o.streams > 0 &&
         num("--main-lcore", &o.main_lcore) &&
         num("--worker-lcore", &o.worker_lcore) &&
         num("--workers", &o.workers) && o.workers >= 1 && o.workers <= 8 &&
         num("--mtu", &o.mtu) && dbl("--loss", &o.faults.drop) &&
         dbl("--dup", &o.faults.duplicate) &&
         dbl("--reorder", &o.faults.reorder) &&
         dbl("--corrupt", &o.faults.corrupt) &&
         num("--timeout", &o.timeout_s) && num("--seed", &o.faults.seed);
}

// The two keys of the keys file, or zeros (refused by the stream) if
// missing or short.
std::array<dataplane::AeadKeyBytes, 2> ReadKeys(const std::string& path) {
  std::array<dataplane::AeadKeyBytes, 2> keys{};
  std::ifstream in(path, std::ios::binary);
  for (auto& k : keys) in.read(reinterpret_cast<char*>(k.data()), k.size());
  if (!in) keys = {};
  return keys;
}

uint32_t Ipv4(const std::string& s) {
  in_addr a{};
  inet_pton(AF_INET, s.c_str(), &a);
  return ntohl(a.s_addr);
}

}  // namespace

int RunTransportNode(const std::vector<std::string>& args) {
  NodeOptions o;
  if (!ParseArgs(args, o)) {
    std::cerr << "vmig-bench transport-node: bad arguments\n";
    return 2;
  }
  dataplane::EalOptions eal;
  std::vector<unsigned> worker_lcores = {o.worker_lcore};
  eal.lcores = absl::StrCat(std::min(o.main_lcore, o.worker_lcore), ",",
                            std::max(o.main_lcore, o.worker_lcore));
  if (o.workers > 1) {
    o.main_lcore = 0;
    worker_lcores.clear();
    for (unsigned w = 1; w <= o.workers; ++w) worker_lcores.push_back(w);
    eal.lcores = absl::StrCat("0-", o.workers);
    eal.cpu_set = absl::StrCat("0-", std::thread::hardware_concurrency() - 1);
  }
  eal.file_prefix = o.prefix;
  eal.extra_args = {
      "--main-lcore", absl::StrCat(o.main_lcore),
      // memif zero-copy needs memory in one file per segment list.
      "--single-file-segments"};
  if (absl::Status s = dataplane::InitEal(eal); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  int rc = 0;
  {
    dataplane::TransportConfig tc;
    if (o.port == "memif") {
      tc.port.kind = dataplane::PortConfig::Kind::kMemif;
      tc.port.args =
          // memif zero-copy works on the client side only: the client's
          // mbufs are the shared buffers and the server copies out of them.
          // The sender is the client: it reads device state straight into
          // shared memory, and the one copy falls on the receiver, which has
          // less to do per byte (measured: 1.3-1.4x the other way round).
          absl::StrCat(
              "role=", o.role == "send" ? "client,zero-copy=yes" : "server",
              ",socket=", o.socket, ",socket-abstract=no");
    } else {
      tc.port.kind = dataplane::PortConfig::Kind::kAfPacket;
      tc.port.args = o.iface;
    }
    tc.port.mtu = o.mtu;
    tc.local.ipv4 = Ipv4(o.local_ip);
    tc.local.udp_port = 7700;
    tc.worker_lcores = worker_lcores;
    tc.faults = o.faults;
    auto transport = dataplane::Transport::Start(tc);
    if (!transport.ok()) {
      std::cerr << transport.status().message() << "\n";
      dataplane::CleanupEal();
      return 1;
    }
    dataplane::ExposeTelemetry({transport->get()});
    if (absl::Status s = (*transport)->WaitLinkUp(absl::Seconds(60)); !s.ok()) {
      std::cerr << s.message() << "\n";
      rc = 1;
    }
    const uint64_t per = o.bytes / o.streams;
    std::vector<std::unique_ptr<vfio::emu::EmuDevice>> devs;
    std::vector<std::unique_ptr<vfio::DataSession>> sessions;
    std::vector<std::shared_ptr<dataplane::Stream>> streams;
    const bool send = o.role == "send";
    for (int i = 0; rc == 0 && i < o.streams; ++i) {
      // The same seed on both sides' names does not matter: the destination
      // state is whatever the stream carries, checked by digest.
      auto d = vfio::emu::EmuDevice::Create(
          absl::StrCat("emu:name=", send ? "src" : "dst", i, ",state=", per,
                       ",seed=", send ? 100 + i : 900 + i));
      if (!d.ok()) {
        std::cerr << d.status().message() << "\n";
        rc = 1;
        break;
      }
      auto s = (*d)->SetState(send ? vfio::DeviceState::kStopCopy
                                   : vfio::DeviceState::kResuming);
      if (!s.ok() || !*s) {
        std::cerr << "device transition failed\n";
        rc = 1;
        break;
      }
      devs.push_back(std::move(*d));
      sessions.push_back(std::move(*s));
    }
    if (send && !o.ready_file.empty()) {
      for (int i = 0; i < 30000 && !std::filesystem::exists(o.ready_file);
           ++i) {
        absl::SleepFor(absl::Milliseconds(1));
      }
    }
    const std::array<dataplane::AeadKeyBytes, 2> keys = ReadKeys(o.keys_file);
    const absl::Time start = absl::Now();
    for (int i = 0; rc == 0 && i < o.streams; ++i) {
      dataplane::StreamSpec spec;
      spec.role = send ? StreamRole::kSend : StreamRole::kReceive;
      spec.session_id = o.session;
      spec.session_token = o.token;
      spec.protection = o.cipher;
      spec.send_key = send ? keys[0] : keys[1];
      spec.receive_key = send ? keys[1] : keys[0];
      spec.stream_id = static_cast<uint32_t>(i);
      spec.data = sessions[i].get();
      spec.peer.ipv4 = send ? Ipv4(o.peer_ip) : 0;
      spec.peer.udp_port = 7700;
      spec.flow = dataplane::FlowConfig();
      spec.flow->window_bytes = o.window;
      auto st = (*transport)->AddStream(spec);
      if (!st.ok()) {
        std::cerr << st.status().message() << "\n";
        rc = 1;
        break;
      }
      streams.push_back(*st);
    }
    if (!send && rc == 0 && !o.ready_file.empty())
      std::ofstream(o.ready_file) << "ready\n";
    uint64_t retransmits = 0, max_buffered = 0, duplicates = 0, cwnd = 0,
             srtt = 0, rto_retransmits = 0, fast_retransmits = 0,
             loss_events = 0, delay_decreases = 0, spurious_rtos = 0,
             ack_requests = 0, answered_whole = 0;
    for (size_t i = 0; rc == 0 && i < streams.size(); ++i) {
      absl::Status s = streams[i]->Wait(absl::Seconds(o.timeout_s));
      if (!s.ok()) {
        std::cerr << "stream " << i << ": " << s.message() << "\n";
        rc = 1;
      }
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    for (auto& st : streams) {
      const auto stats = st->Stats();
      retransmits += stats.sender.retransmits;
      rto_retransmits += stats.sender.rto_retransmits;
      fast_retransmits += stats.sender.fast_retransmits;
      loss_events += stats.sender.loss_events;
      spurious_rtos += stats.sender.spurious_rtos;
      ack_requests += stats.sender.ack_requests;
      answered_whole += stats.sender.requests_answered_whole;
      delay_decreases += stats.sender.delay_decreases;
      duplicates += stats.receiver.duplicates;
      max_buffered = std::max(max_buffered, stats.receiver.max_buffered_bytes);
      cwnd += stats.sender.cwnd;
      srtt =
          std::max<uint64_t>(srtt, static_cast<uint64_t>(stats.sender.srtt_ns));
    }
    // Receivers load their devices: RESUMING -> STOP checks the digest.
    std::vector<uint64_t> digests;
    for (size_t i = 0; rc == 0 && i < devs.size(); ++i) {
      if (!send) {
        sessions[i].reset();
        auto s = devs[i]->SetState(vfio::DeviceState::kStop);
        if (!s.ok()) {
          std::cerr << "load of dst" << i << ": " << s.status().message()
                    << "\n";
          rc = 1;
        }
      }
      digests.push_back(devs[i]->StateDigest());
    }
    const dataplane::CounterSnapshot c = (*transport)->counters();
    std::printf("cipher %s\n", dataplane::ProtectionName(o.cipher));
    std::printf("role %s\nok %d\nseconds %.6f\nbytes %llu\nretransmits %llu\n",
                o.role.c_str(), rc == 0 ? 1 : 0, seconds,
                static_cast<unsigned long long>(per * o.streams),
                static_cast<unsigned long long>(retransmits));
    std::printf(
        "duplicates %llu\nmax_buffered %llu\nrto_retransmits "
        "%llu\nfast_retransmits %llu\nloss_events %llu\ndelay_decreases "
        "%llu\ncwnd_sum %llu\nsrtt_ns %llu\nspurious_rtos %llu\n"
        "ack_requests %llu\nrequests_answered_whole %llu\n",
        static_cast<unsigned long long>(duplicates),
        static_cast<unsigned long long>(max_buffered),
        static_cast<unsigned long long>(rto_retransmits),
        static_cast<unsigned long long>(fast_retransmits),
        static_cast<unsigned long long>(loss_events),
        static_cast<unsigned long long>(delay_decreases),
        static_cast<unsigned long long>(cwnd),
        static_cast<unsigned long long>(srtt),
        static_cast<unsigned long long>(spurious_rtos),
        static_cast<unsigned long long>(ack_requests),
        static_cast<unsigned long long>(answered_whole));
    for (size_t i = 0; i < dataplane::kNumCounters; ++i) {
      std::printf("%s %llu\n", dataplane::kCounterNames[i],
                  static_cast<unsigned long long>(c.value[i]));
    }
    for (size_t k = 0; k < c.parse_error_kinds.size(); ++k) {
      if (uint64_t n = c.parse_error_kinds[k]) {
        std::printf(
            "parse_error_%s %llu\n",
            dataplane::ParseErrorName(static_cast<dataplane::ParseError>(k)),
            static_cast<unsigned long long>(n));
      }
    }
    // Frames each RX queue delivered: with several workers, each queue pair
    // must have carried its share of the streams.
    rte_eth_stats es;
    if (rte_eth_stats_get((*transport)->port()->id(), &es) == 0) {
      for (unsigned q = 0; q < (*transport)->port()->queues(); ++q) {
        std::printf("queue%u_rx_frames %llu\n", q,
                    static_cast<unsigned long long>(es.q_ipackets[q]));
      }
    }
    for (size_t i = 0; i < digests.size(); ++i) {
      std::printf("digest%zu %016llx\n", i,
                  static_cast<unsigned long long>(digests[i]));
    }
    // Let the peer's final acks and CLOSE frames drain before stopping.
    absl::SleepFor(absl::Milliseconds(send ? 50 : 300));
    streams.clear();
    // Workers release what they hold; the closed port gives back what the
    // PMD had posted. What is left in use is a leak.
    (*transport)->Shutdown();
    std::printf("mbufs_in_use %u\nmbufs_leaked %u\n",
                (*transport)->MbufsInUse(), (*transport)->MbufsLeaked());
    transport->reset();
  }
  std::fflush(stdout);
  dataplane::CleanupEal();
  return rc;
}

}  // namespace vmig::bench
