// An attacker on the data network, for the observer test: on interface
// IFACE it waits for vmigd data frames (UDP to PORT, vmigd header type 1,
// with a payload) going past, and for each of the first COUNT it sends the
// frame back onto the segment twice as captured (a replay), once with one
// payload byte flipped (a forgery under a packet number already seen), and
// once more with its packet number moved far ahead as well (a forgery only
// the tag can catch). Gives up after SECONDS.
//   frame_injector IFACE PORT COUNT SECONDS
// Prints "replayed N", "forged N" and "forged_fresh N" (distinct frames)
// and exits 0 if it found COUNT frames.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr size_t kEth = 14, kIp = 20, kUdp = 8, kHeader = 64;
constexpr size_t kPacketNumber = 24;  // in the vmigd header (dataplane/wire.h)

bool IsVmigdData(const unsigned char* f, size_t n, unsigned port) {
  if (n < kEth + kIp + kUdp + kHeader + 1) return false;
  if (f[12] != 0x08 || f[13] != 0x00 || f[14] != 0x45 || f[23] != 17)
    return false;
  const unsigned dport = f[kEth + kIp + 2] << 8 | f[kEth + kIp + 3];
  const unsigned char* h = f + kEth + kIp + kUdp;
  return dport == port && h[1] == 1 /* kData */ &&
         n > kEth + kIp + kUdp + kHeader + 16;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: frame_injector IFACE PORT COUNT SECONDS\n");
    return 2;
  }
  const unsigned ifindex = if_nametoindex(argv[1]);
  const unsigned port = static_cast<unsigned>(std::atoi(argv[2]));
  const int want = std::atoi(argv[3]);
  const int seconds = std::atoi(argv[4]);
  const int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (ifindex == 0 || fd < 0) {
    std::perror("frame_injector: socket");
    return 1;
  }
  sockaddr_ll addr = {};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::perror("frame_injector: bind");
    return 1;
  }
  timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::vector<unsigned char> buf(65536);
  int replayed = 0, forged = 0, forged_fresh = 0;
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (replayed < want && std::chrono::steady_clock::now() < until) {
    sockaddr_ll from = {};
    socklen_t len = sizeof(from);
    const ssize_t n = recvfrom(fd, buf.data(), buf.size(), 0,
                               reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
    if (!IsVmigdData(buf.data(), static_cast<size_t>(n), port)) continue;
    // Twice as captured, then once with a payload byte flipped.
    bool ok = send(fd, buf.data(), static_cast<size_t>(n), 0) == n;
    ok = send(fd, buf.data(), static_cast<size_t>(n), 0) == n && ok;
    if (ok) ++replayed;
    buf[kEth + kIp + kUdp + kHeader + 5] ^= 0x40;
    if (send(fd, buf.data(), static_cast<size_t>(n), 0) == n) ++forged;
    buf[kEth + kIp + kUdp + kPacketNumber + 5] ^= 0x01;  // + 2^40
    if (send(fd, buf.data(), static_cast<size_t>(n), 0) == n) ++forged_fresh;
  }
  std::printf("replayed %d\nforged %d\nforged_fresh %d\n", replayed, forged,
              forged_fresh);
  close(fd);
  return replayed >= want ? 0 : 1;
}
