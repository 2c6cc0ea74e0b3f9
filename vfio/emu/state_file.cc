#include "vfio/emu/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vmig::vfio::emu {
namespace {

constexpr char kMagic[8] = {'V', 'M', 'I', 'G', 'E', 'M', 'U', '1'};

struct Header {
  char magic[8];
  uint64_t state_bytes;
  uint32_t block_bytes;
  uint32_t state;
  uint64_t seed;
  uint64_t dirty_sequence;
  uint64_t blocks;
};

}  // namespace

absl::Status SaveState(const std::string& path, const SavedState& s) {
  Header h;
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.state_bytes = s.state_bytes;
  h.block_bytes = s.block_bytes;
  h.state = static_cast<uint32_t>(s.state);
  h.seed = s.seed;
  h.dirty_sequence = s.dirty_sequence;
  h.blocks = s.versions.size();
  std::string data(reinterpret_cast<const char*>(&h), sizeof(h));
  data.append(reinterpret_cast<const char*>(s.versions.data()),
              s.versions.size() * sizeof(uint32_t));
  const std::string tmp = path + ".new";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", tmp));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return absl::ErrnoToStatus(err, absl::StrCat("write ", tmp));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", tmp));
  return absl::OkStatus();
}

absl::StatusOr<SavedState> LoadState(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT
               ? absl::NotFoundError(absl::StrCat(path, ": no saved state"))
               : absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  Header h;
  if (data.size() < sizeof(h)) {
    return absl::DataLossError(absl::StrCat(path, ": truncated header"));
  }
  std::memcpy(&h, data.data(), sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0 ||
      data.size() != sizeof(h) + h.blocks * sizeof(uint32_t) ||
      h.state > static_cast<uint32_t>(DeviceState::kPreCopyP2P)) {
    return absl::DataLossError(
        absl::StrCat(path, ": not a whole emulated device state"));
  }
  SavedState s;
  s.state_bytes = h.state_bytes;
  s.block_bytes = h.block_bytes;
  s.state = static_cast<DeviceState>(h.state);
  s.seed = h.seed;
  s.dirty_sequence = h.dirty_sequence;
  s.versions.resize(h.blocks);
  std::memcpy(s.versions.data(), data.data() + sizeof(h),
              h.blocks * sizeof(uint32_t));
  return s;
}

}  // namespace vmig::vfio::emu
