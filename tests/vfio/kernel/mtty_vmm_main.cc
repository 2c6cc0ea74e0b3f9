// vmig-mtty-vmm: plays a VMM that owns mtty devices, for tests that drive
// vmigd with the operator's tools (the two-VM test). It opens N mdevs
// through their groups, optionally fills each UART FIFO with "mttyI-fifo",
// and hands each device's fd to whoever connects to DIR/ttyI.sock
// (SCM_RIGHTS, as a VMM hands its devices to vmigd). It keeps its own fds:
// once FILE (--done) exists it writes, for each device, "ttyI STATE FIFO"
// to --report and exits.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/unique_fd.h"
#include "tests/vfio/kernel/mtty_uart.h"
#include "vfio/kernel/device_open.h"
#include "vfio/kernel/kernel_device.h"

namespace vmig::vfio::kernel {
namespace {

UniqueFd Listen(const std::string& path) {
  UniqueFd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ::unlink(path.c_str());
  if (!s.valid() ||
      ::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
      ::listen(s.get(), 4) < 0) {
    return UniqueFd();
  }
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

int Run(const std::string& mdevs_file, int first, int count,
        const std::string& dir, bool fill, const std::string& done,
        const std::string& report, int timeout_s) {
  auto mdevs = ReadMdevList(mdevs_file);
  if (static_cast<int>(mdevs.size()) < first + count) {
    std::cerr << "vmig-mtty-vmm: " << mdevs_file << " lists " << mdevs.size()
              << " mdevs\n";
    return 2;
  }
  std::vector<std::unique_ptr<KernelDevice>> devs;
  std::vector<UniqueFd> socks;
  for (int i = 0; i < count; ++i) {
    const auto& [uuid, group] = mdevs[first + i];
    auto d = OpenGroupDevice(uuid, group, uuid, Syscalls::Real());
    if (!d.ok() || !(*d)->Reset().ok() || !MttyDrainFifo((*d)->fd()).ok()) {
      std::cerr << "vmig-mtty-vmm: cannot open " << uuid << "\n";
      return 1;
    }
    if (fill && !MttyWriteFifo((*d)->fd(), absl::StrCat("mtty", i, "-fifo"))
                     .ok()) {
      std::cerr << "vmig-mtty-vmm: cannot fill " << uuid << "\n";
      return 1;
    }
    socks.push_back(Listen(absl::StrCat(dir, "/tty", i, ".sock")));
    if (!socks.back().valid()) {
      std::cerr << "vmig-mtty-vmm: cannot listen in " << dir << "\n";
      return 1;
    }
    devs.push_back(std::move(*d));
  }
  std::ofstream(absl::StrCat(dir, "/vmm-ready")) << "ready\n";
  const absl::Time deadline = absl::Now() + absl::Seconds(timeout_s);
  while (!Exists(done)) {
    if (absl::Now() > deadline) {
      std::cerr << "vmig-mtty-vmm: " << done << " never came\n";
      return 1;
    }
    std::vector<pollfd> p;
    for (const UniqueFd& s : socks) p.push_back({s.get(), POLLIN, 0});
    if (::poll(p.data(), p.size(), 100) <= 0) continue;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!(p[i].revents & POLLIN)) continue;
      UniqueFd conn(::accept4(socks[i].get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (conn.valid())
        (void)SendDeviceFd(conn.get(), devs[i]->name(), devs[i]->fd());
    }
  }
  std::ofstream out(report);
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<DeviceState> st = devs[i]->GetState();
    absl::StatusOr<std::string> fifo = MttyDrainFifo(devs[i]->fd());
    out << "tty" << i << " " << (st.ok() ? DeviceStateName(*st) : "unknown")
        << " " << (fifo.ok() ? (fifo->empty() ? "-" : *fifo) : "unreadable")
        << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace vmig::vfio::kernel

int main(int argc, char** argv) {
  CLI::App app("Plays a VMM that owns mtty devices and hands them to vmigd");
  std::string mdevs = "/tmp/job/mdevs", dir, done, report;
  int first = 0, count = 4, timeout_s = 600;
  bool fill = false;
  app.add_option("--mdevs", mdevs, "'UUID /dev/vfio/N' lines");
  app.add_option("--first", first, "the first mdev to use");
  app.add_option("--count", count, "how many mdevs");
  app.add_option("--dir", dir, "where the ttyI.sock sockets go")->required();
  app.add_flag("--fill", fill, "fill each FIFO with mttyI-fifo");
  app.add_option("--done", done, "report and exit once this file exists")
      ->required();
  app.add_option("--report", report, "where the report goes")->required();
  app.add_option("--timeout", timeout_s, "give up after this many seconds");
  CLI11_PARSE(app, argc, argv);
  return vmig::vfio::kernel::Run(mdevs, first, count, dir, fill, done, report,
                                 timeout_s);
}
