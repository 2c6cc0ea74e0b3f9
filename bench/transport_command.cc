#include "bench/transport_command.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/baselines.h"
#include "bench/options.h"
#include "bench/pipeline_ceiling.h"
#include "common/subprocess.h"
#include "common/units.h"
#include "dataplane/aead.h"

namespace vmig::bench {
namespace {

constexpr char kUsage[] =
    "usage: vmig-bench transport [--streams N] [--bytes SIZE] [--window SIZE]\n"
    "                            [--loss P] [--dup P] [--reorder P] [--corrupt "
    "P]\n"
    "                            [--port memif|af_packet] [--workers N]\n"
    "                            [--mtu BYTES] [--cipher aes-256-gcm|none]\n"
    "                            [--no-baselines] [--verbose]\n"
    "\n"
    "Starts a receiver and a sender process joined by a DPDK port (memif, or\n"
    "af_packet over a veth pair between two network namespaces it creates),\n"
    "moves SIZE bytes from emulated source devices into emulated destination\n"
    "devices over N streams, verifies every digest, and measures memcpy and a\n"
    "kernel TCP copy of the same bytes (plain and TLS) in the same run, on\n"
    "the same path: loopback for memif, the veth pair for af_packet. On\n"
    "memif it also measures the one-copy pipeline ceiling: the same devices\n"
    "through shared buffers between a thread on each worker's CPU, with no\n"
    "protocol, the most a transport with one copy could move here\n"
    "(ceiling_gbytes_per_s; vs_ceiling is the unprotected transport's share).\n"
    "Fault rates (0..1) are injected on transmit by both processes. --workers "
    "N gives\n"
    "each process N worker lcores with a queue pair each (on a host with\n"
    "fewer CPUs they share them; on af_packet the kernel's fanout picks the\n"
    "queue, and a worker hands frames for another's streams to it). --mtu\n"
    "sets the frame size "
    "(default:\n"
    "the port's, 64000 on memif and 9000 on af_packet). --cipher picks the\n"
    "frame protection (default aes-256-gcm, with fresh keys each run; none:\n"
    "CRC32C only); unless it is none, the same transfer then runs unprotected\n"
    "too, for the ratio (vs_unprotected; skipped with --no-baselines).\n"
    "Last line: JSON.\n";

using Report = std::map<std::string, std::string>;

Report ParseReport(const std::string& text) {
  Report r;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (!kv.first.empty()) r[kv.first] = kv.second;
  }
  return r;
}

double Num(const Report& r, const std::string& k) {
  double v = 0;
  auto it = r.find(k);
  if (it != r.end()) (void)absl::SimpleAtod(it->second, &v);
  return v;
}

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

bool WriteRandomKeys(const std::string& path) {
  std::ifstream rnd("/dev/urandom", std::ios::binary);
  char keys[2 * dataplane::kKeyBytes];
  if (!rnd.read(keys, sizeof(keys))) return false;
  std::ofstream out(path, std::ios::binary);
  return static_cast<bool>(out.write(keys, sizeof(keys)));
}

// The transport's rate over its like: encrypted over the best TCP+TLS,
// unprotected over plain TCP with N connections (0 without baselines).
double VsLike(bool encrypted, double rate, const TcpResult& tls,
              const TcpResult& ktls, const TcpResult& tcp_multi) {
  const double tls_best =
      std::max(tls.bytes_per_second, ktls.ktls ? ktls.bytes_per_second : 0);
  const double anchor = encrypted ? tls_best : tcp_multi.bytes_per_second;
  return anchor > 0 ? rate / anchor : 0;
}

}  // namespace

int RunTransportBench(const std::vector<std::string>& args) {
  std::map<std::string, std::string> opt = {{"--streams", "4"},
                                            {"--bytes", "1GiB"},
                                            {"--window", "8MiB"},
                                            {"--loss", "0"},
                                            {"--dup", "0"},
                                            {"--reorder", "0"},
                                            {"--corrupt", "0"},
                                            {"--port", "memif"},
                                            {"--workers", "1"},
                                            {"--mtu", "0"},
                                            {"--cipher", "aes-256-gcm"}};
  // --verbose prints both processes' reports.
  std::map<std::string, bool> flags = {{"--no-baselines", false},
                                       {"--verbose", false}};
  if (int rc = ParseOptions(args, "transport", kUsage, opt, &flags); rc >= 0)
    return rc;
  const bool baselines = !flags["--no-baselines"];
  const bool verbose = flags["--verbose"];
  int streams = 0;
  auto bytes = ParseBytes(opt["--bytes"]);
  if (!absl::SimpleAtoi(opt["--streams"], &streams) || streams < 1 ||
      streams > 64 || !bytes.ok() ||
      (opt["--port"] != "memif" && opt["--port"] != "af_packet")) {
    std::cerr << "vmig-bench transport: bad --streams, --bytes or --port\n"
              << kUsage;
    return 2;
  }
  const bool af_packet = opt["--port"] == "af_packet";
  int workers = 0;
  if (!absl::SimpleAtoi(opt["--workers"], &workers) || workers < 1 ||
      workers > 8) {
    std::cerr << "vmig-bench transport: --workers is 1-8\n";
    return 2;
  }
  uint32_t mtu = 0;
  if (!absl::SimpleAtoi(opt["--mtu"], &mtu) ||
      (mtu != 0 && (mtu < 576 || mtu > 65000))) {
    std::cerr << "vmig-bench transport: --mtu is 576-65000 (0: the port's)\n";
    return 2;
  }
  if (!dataplane::ProtectionFromName(opt["--cipher"])) {
    std::cerr << "vmig-bench transport: --cipher is aes-256-gcm or none\n";
    return 2;
  }
  char tmpl[] = "/tmp/vmig-bench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);  // mode 0700
  // Fresh keys for the run, one per direction, in a file only we can read
  // (what the daemons' handshake agrees over the peer channel).
  if (!WriteRandomKeys(dir + "/keys")) {
    std::cerr << "vmig-bench transport: cannot write keys\n";
    return 1;
  }
  const std::string tag = absl::StrCat(getpid());
  const std::string sock = dir + "/memif.sock";
  std::vector<std::string> ns_prefix[2];
  if (af_packet) {
    // Two hosts: network namespaces joined by a veth pair with jumbo MTU.
    const std::string a = "vmigA" + tag, b = "vmigB" + tag;
    const std::string setup = absl::StrCat(
        "set -e; ip netns add ", a, "; ip netns add ", b, "; ip link add va",
        tag, " type veth peer name vb", tag, "; ip link set va", tag, " netns ",
        a, "; ip link set vb", tag, " netns ", b, "; ip -n ", a, " link set va",
        tag, " mtu 9000 up; ip -n ", b, " link set vb", tag,
        " mtu 9000 up; ip -n ", a, " addr add 169.254.77.1/24 dev va", tag,
        "; ip -n ", b, " addr add 169.254.77.2/24 dev vb", tag);
    if (Sh(setup) != 0) {
      std::cerr << "vmig-bench transport: cannot create network namespaces "
                   "(root needed)\n";
      return 1;
    }
    ns_prefix[0] = {"/usr/bin/ip", "netns", "exec", b};  // receiver
    ns_prefix[1] = {"/usr/bin/ip", "netns", "exec", a};  // sender
  }
  // One transfer with frame protection `cipher`: a receiver and a sender
  // process, their reports, and whether every digest matched.
  struct Pair {
    Report s, r;
    int send_rc = -1, recv_rc = -1;
    bool verified = false;
    std::string out_base;
  };
  auto run_pair = [&](const std::string& cipher) {
    Pair p;
    p.out_base = dir + "/" + cipher;
    std::error_code ec;
    std::filesystem::remove(dir + "/receiver.ready", ec);
    std::filesystem::remove(sock, ec);
    auto node = [&](bool recv) {
      std::vector<std::string> argv = ns_prefix[recv ? 0 : 1];
      std::vector<std::string> rest = {
          SelfPath(), "transport-node", "--role", recv ? "recv" : "send",
          "--port", opt["--port"], "--socket", sock, "--iface",
          absl::StrCat(recv ? "vb" : "va", tag), "--streams", opt["--streams"],
          "--bytes", opt["--bytes"], "--window", opt["--window"], "--loss",
          opt["--loss"], "--dup", opt["--dup"], "--reorder", opt["--reorder"],
          "--corrupt", opt["--corrupt"], "--prefix",
          absl::StrCat("vmigbench-", recv ? "r" : "s", tag), "--main-lcore",
          recv ? "0" : "1", "--worker-lcore", recv ? "1" : "0", "--local-ip",
          recv ? "169.254.77.2" : "169.254.77.1", "--peer-ip",
          recv ? "169.254.77.1" : "169.254.77.2", "--seed", recv ? "11" : "22",
          // The sender starts streaming once the receiver has registered
          // its streams (in the daemon, the handshake orders this).
          "--ready-file", dir + "/receiver.ready", "--workers",
          opt["--workers"], "--mtu", opt["--mtu"], "--cipher", cipher,
          "--keys-file", dir + "/keys"};
      argv.insert(argv.end(), rest.begin(), rest.end());
      const std::string base = p.out_base + (recv ? ".recv" : ".send");
      return Spawn(argv, {}, base + ".out", base + ".err");
    };
    std::printf(
        "moving %s over %s streams on %s, %s (loss %s dup %s reorder %s "
        "corrupt %s)\n",
        FormatBytes(static_cast<double>(*bytes)).c_str(),
        opt["--streams"].c_str(), opt["--port"].c_str(), cipher.c_str(),
        opt["--loss"].c_str(), opt["--dup"].c_str(), opt["--reorder"].c_str(),
        opt["--corrupt"].c_str());
    std::fflush(stdout);
    // memif: the receiver is the server and creates the socket that the
    // sender (the zero-copy client) connects to, so it starts first.
    // af_packet: the receiver starts first so that no frame finds it absent.
    pid_t send_pid = -1, recv_pid = -1;
    recv_pid = node(true);
    if (af_packet) {
      absl::SleepFor(absl::Milliseconds(500));
    } else {
      for (int i = 0; i < 3000 && !std::filesystem::exists(sock); ++i)
        absl::SleepFor(absl::Milliseconds(10));
    }
    send_pid = node(false);
    p.send_rc = WaitExit(send_pid, 900);
    p.recv_rc = WaitExit(recv_pid, 60);
    p.s = ParseReport(ReadFileOrEmpty(p.out_base + ".send.out"));
    p.r = ParseReport(ReadFileOrEmpty(p.out_base + ".recv.out"));
    p.verified = p.send_rc == 0 && p.recv_rc == 0 && Num(p.s, "ok") == 1 &&
                 Num(p.r, "ok") == 1;
    for (int i = 0; i < streams; ++i) {
      const std::string k = absl::StrCat("digest", i);
      p.verified =
          p.verified && p.s.count(k) && p.r.count(k) && p.s.at(k) == p.r.at(k);
    }
    if (!p.verified) {
      std::fprintf(stderr, "sender (rc %d):\n%s\nreceiver (rc %d):\n%s\n",
                   p.send_rc, ReadFileOrEmpty(p.out_base + ".send.err").c_str(),
                   p.recv_rc,
                   ReadFileOrEmpty(p.out_base + ".recv.err").c_str());
    }
    return p;
  };
  const Pair main_run = run_pair(opt["--cipher"]);
  // The unprotected baseline in the same run, for the cipher's cost.
  Pair baseline;
  const bool cipher_baseline = baselines && opt["--cipher"] != "none";
  if (cipher_baseline) baseline = run_pair("none");
  const Report& s = main_run.s;
  const Report& r = main_run.r;
  const bool verified =
      main_run.verified && (!cipher_baseline || baseline.verified);
  if (verbose) {
    const std::string& b = main_run.out_base;
    std::printf("sender report:\n%s%s\nreceiver report:\n%s%s\n",
                ReadFileOrEmpty(b + ".send.out").c_str(),
                ReadFileOrEmpty(b + ".send.err").c_str(),
                ReadFileOrEmpty(b + ".recv.out").c_str(),
                ReadFileOrEmpty(b + ".recv.err").c_str());
  }
  const double total = Num(s, "bytes");
  const double seconds = Num(s, "seconds");
  const double rate = seconds > 0 ? total / seconds : 0;
  const double base_seconds = Num(baseline.s, "seconds");
  const double base_rate =
      base_seconds > 0 ? Num(baseline.s, "bytes") / base_seconds : 0;
  double memcpy_rate = 0;
  TcpResult tcp, tcp_multi, tls, ktls;
  // Like against like on the path: on af_packet, kernel TCP between the
  // same two namespaces over the same veth pair; on memif, loopback.
  TcpPath path;
  if (af_packet) {
    path.server_netns = "vmigB" + tag;
    path.client_netns = "vmigA" + tag;
    path.server_ipv4 = "169.254.77.2";
  }
  const std::string tcp_on = af_packet ? " (veth)" : "";
  if (baselines) {
    memcpy_rate =
        MemcpyBytesPerSecond(static_cast<uint64_t>(std::max(total, 1.0)));
    if (auto t = TcpCopy(streams, static_cast<uint64_t>(total), 1,
                         TcpSecurity::kPlain, path);
        t.ok()) {
      tcp = *t;
    } else {
      std::fprintf(stderr, "TCP baseline: %s\n",
                   std::string(t.status().message()).c_str());
    }
    if (auto t = TcpCopy(streams, static_cast<uint64_t>(total), streams,
                         TcpSecurity::kPlain, path);
        t.ok()) {
      tcp_multi = *t;
    }
    // Encrypted against encrypted: TLS 1.3 AES-256-GCM over as many
    // connections as streams, as QEMU's multifd with TLS; and with kTLS
    // where the kernel offers it.
    if (auto t = TcpCopy(streams, static_cast<uint64_t>(total), streams,
                         TcpSecurity::kTls, path);
        t.ok()) {
      tls = *t;
    } else {
      std::fprintf(stderr, "TCP+TLS baseline: %s\n",
                   std::string(t.status().message()).c_str());
    }
    if (auto t = TcpCopy(streams, static_cast<uint64_t>(total), streams,
                         TcpSecurity::kKtls, path);
        t.ok() && t->ktls) {
      ktls = *t;
    }
  }
  // On memif, the most a one-copy transport could move here (memif's own
  // path with nothing else: bench/pipeline_ceiling.h), in the same run.
  PipelineCeilingResult ceiling;
  if (baselines && !af_packet) {
    PipelineCeilingConfig pc;
    pc.streams = streams;
    pc.bytes = static_cast<uint64_t>(total);
    if (auto c = PipelineCeiling(pc); c.ok()) {
      ceiling = *c;
    } else {
      std::fprintf(stderr, "pipeline ceiling: %s\n",
                   std::string(c.status().message()).c_str());
    }
  }
  if (af_packet) {
    Sh(absl::StrCat("ip netns del vmigA", tag, "; ip netns del vmigB", tag));
  }
  const double gb = 1e9;
  const double unprotected_rate = cipher_baseline ? base_rate : rate;
  std::printf("\n%-32s %12s %10s\n", "path", "GB/s", "vs memcpy");
  std::printf("%-32s %12.3f %10.3f\n",
              ("vmigd DPDK " + opt["--port"] + " " + opt["--cipher"]).c_str(),
              rate / gb, memcpy_rate > 0 ? rate / memcpy_rate : 0);
  if (cipher_baseline) {
    std::printf("%-32s %12.3f %10.3f\n",
                ("vmigd DPDK " + opt["--port"] + " none").c_str(),
                base_rate / gb, memcpy_rate > 0 ? base_rate / memcpy_rate : 0);
    std::printf("%s keeps %.2fx of the unprotected transport's rate\n",
                opt["--cipher"].c_str(), base_rate > 0 ? rate / base_rate : 0);
  }
  if (baselines) {
    std::printf("%-32s %12.3f %10.3f\n",
                ("kernel TCP, 1 connection" + tcp_on).c_str(),
                tcp.bytes_per_second / gb, tcp.bytes_per_second / memcpy_rate);
    std::printf("%-32s %12.3f %10.3f\n",
                ("kernel TCP, N connections" + tcp_on).c_str(),
                tcp_multi.bytes_per_second / gb,
                tcp_multi.bytes_per_second / memcpy_rate);
    std::printf("%-32s %12.3f %10.3f\n",
                ("kernel TCP+TLS, N conns" + tcp_on).c_str(),
                tls.bytes_per_second / gb, tls.bytes_per_second / memcpy_rate);
    if (ktls.ktls) {
      std::printf("%-32s %12.3f %10.3f\n",
                  ("kernel TCP+kTLS, N conns" + tcp_on).c_str(),
                  ktls.bytes_per_second / gb,
                  ktls.bytes_per_second / memcpy_rate);
    } else {
      std::printf("%-32s %12s\n", ("kernel TCP+kTLS, N conns" + tcp_on).c_str(),
                  "(no kTLS in this kernel)");
    }
    std::printf("%-32s %12.3f %10.3f\n", "memcpy (1 core)", memcpy_rate / gb,
                1.0);
    if (ceiling.bytes_per_second > 0) {
      std::printf("%-32s %12.3f %10.3f\n", "one-copy pipeline ceiling",
                  ceiling.bytes_per_second / gb,
                  ceiling.bytes_per_second / memcpy_rate);
    }
    // Like against like: an encrypted transport against the best encrypted
    // TCP, an unprotected one against plain TCP (N connections).
    std::printf(
        "vmigd %s is %.2fx kernel TCP%s%s (N connections)\n",
        opt["--cipher"].c_str(),
        VsLike(opt["--cipher"] != "none", rate, tls, ktls, tcp_multi),
        opt["--cipher"] != "none" ? "+TLS, encrypted against encrypted" : "",
        tcp_on.c_str());
    if (cipher_baseline && tcp_multi.bytes_per_second > 0) {
      std::printf("vmigd none is %.2fx plain kernel TCP%s (N connections)\n",
                  base_rate / tcp_multi.bytes_per_second, tcp_on.c_str());
    }
    if (ceiling.bytes_per_second > 0 && tcp_multi.bytes_per_second > 0) {
      std::printf(
          "vmigd none reaches %.2f of the one-copy pipeline ceiling, which "
          "is %.2fx plain kernel TCP (N connections)\n",
          unprotected_rate / ceiling.bytes_per_second,
          ceiling.bytes_per_second / tcp_multi.bytes_per_second);
    }
  }
  const bool has_ceiling = ceiling.bytes_per_second > 0;
  const std::string ceiling_json =
      has_ceiling ? absl::StrCat(ceiling.bytes_per_second / gb) : "null";
  const std::string vs_ceiling_json =
      has_ceiling && unprotected_rate > 0
          ? absl::StrCat(unprotected_rate / ceiling.bytes_per_second)
          : "null";
  const std::string ktls_json =
      ktls.ktls ? absl::StrCat(ktls.bytes_per_second / gb) : "null";
  // The least-loaded receive queue: with several workers, each must carry
  // data.
  double min_queue_frames = -1;
  for (int q = 0; q < workers; ++q) {
    const double n = Num(r, absl::StrCat("queue", q, "_rx_frames"));
    min_queue_frames = min_queue_frames < 0 ? n : std::min(min_queue_frames, n);
  }
  std::printf(
      "retransmits %.0f, duplicates seen %.0f, CRC errors caught %.0f, "
      "max receiver buffering %s (window %s), mbufs leaked: send %.0f "
      "recv %.0f\n",
      Num(s, "retransmits"), Num(r, "duplicates"),
      Num(r, "crc_errors") + Num(s, "crc_errors"),
      FormatBytes(Num(r, "max_buffered")).c_str(), opt["--window"].c_str(),
      Num(s, "mbufs_leaked"), Num(r, "mbufs_leaked"));
  std::printf(
      "{\"bytes\":%.0f,\"seconds\":%.6f,\"gbytes_per_s\":%.4f,\"verified\":%s,"
      "\"memcpy_gbytes_per_s\":%.4f,\"tcp_gbytes_per_s\":%.4f,\"tcp_verified\":"
      "%s,\"tcp_multi_gbytes_per_s\":%.4f,"
      "\"retransmits\":%.0f,\"rto_retransmits\":%.0f,\"spurious_rtos\":%.0f,"
      "\"ack_requests\":%.0f,\"requests_answered_whole\":%.0f,"
      "\"streams\":%d,\"port\":\"%s\",\"loss\":%s,\"max_"
      "buffered_bytes\":%.0f,"
      "\"window_bytes\":%llu,\"crc_errors\":%.0f,\"mbufs_leaked\":%.0f,"
      "\"workers\":%d,\"min_queue_rx_frames\":%.0f,"
      "\"bytes_per_rx_frame\":%.0f,\"handoffs\":%.0f,\"cipher\":\"%s\","
      "\"auth_failures\":%.0f,\"replays\":%.0f,"
      "\"unprotected_gbytes_per_s\":%.4f,\"unprotected_verified\":%s,"
      "\"vs_unprotected\":%.4f,\"tcp_tls_gbytes_per_s\":%.4f,"
      "\"tcp_tls_verified\":%s,\"tcp_ktls_gbytes_per_s\":%s,"
      "\"vs_like\":%.4f,\"ceiling_gbytes_per_s\":%s,"
      "\"ceiling_verified\":%s,\"vs_ceiling\":%s}\n",
      total, seconds, rate / gb, verified ? "true" : "false", memcpy_rate / gb,
      tcp.bytes_per_second / gb,
      tcp.verified && tcp_multi.verified ? "true" : "false",
      tcp_multi.bytes_per_second / gb, Num(s, "retransmits"),
      Num(s, "rto_retransmits"), Num(s, "spurious_rtos"),
      Num(s, "ack_requests"), Num(s, "requests_answered_whole"), streams,
      opt["--port"].c_str(), opt["--loss"].c_str(), Num(r, "max_buffered"),
      static_cast<unsigned long long>(*ParseBytes(opt["--window"])),
      Num(r, "crc_errors") + Num(s, "crc_errors"),
      Num(s, "mbufs_leaked") + Num(r, "mbufs_leaked"), workers,
      min_queue_frames, total / std::max(1.0, Num(r, "rx_frames")),
      Num(s, "handoffs") + Num(r, "handoffs"), opt["--cipher"].c_str(),
      Num(s, "auth_failures") + Num(r, "auth_failures"),
      Num(s, "replays") + Num(r, "replays"), base_rate / gb,
      cipher_baseline ? (baseline.verified ? "true" : "false") : "null",
      base_rate > 0 ? rate / base_rate : 0, tls.bytes_per_second / gb,
      tls.verified ? "true" : "false", ktls_json.c_str(),
      VsLike(opt["--cipher"] != "none", rate, tls, ktls, tcp_multi),
      ceiling_json.c_str(),
      has_ceiling ? (ceiling.verified ? "true" : "false") : "null",
      vs_ceiling_json.c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return verified && (!has_ceiling || ceiling.verified) ? 0 : 1;
}

}  // namespace vmig::bench
