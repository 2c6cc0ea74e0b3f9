#include "daemon/measures/calibration_file.h"

#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace vmig::daemon {
namespace {

class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty())
      first = absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  std::string first;
};

constexpr double kMaxRate = 1e12;  // 1 TB/s: no device streams faster

absl::Status CheckRate(double v, const std::string& where,
                       const std::string& field) {
  if (std::isfinite(v) && v >= 0 && v <= kMaxRate) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": ", field, " = ", v, ": a rate is 0 (unknown) to 1e12 bytes/s"));
}

absl::Status CheckDuration(int64_t ns, const std::string& where,
                           const std::string& field) {
  if (ns >= 0 && ns <= 60'000'000'000) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      where, ": ", field, " = ", ns, ": takes 0 (unknown) to 60 s in ns"));
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      size_t colon = line.find(':');
      if (colon != std::string::npos)
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

}  // namespace

absl::Status CheckCalibration(const v1::Calibration& c,
                              const std::string& where) {
  if (c.version() != kCalibrationVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": version ", c.version(), ": this vmigd reads ",
                     kCalibrationVersion));
  }
  if (c.classes_size() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", c.classes_size(), " classes; at most 4096"));
  }
  for (const v1::DeviceClassMeasures& m : c.classes()) {
    if (m.device_class().empty() || m.device_class().size() > 1024) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": a class's device_class must be 1 to 1024 characters"));
    }
    const std::string at = absl::StrCat(where, ": class ", m.device_class());
    for (auto [v, f] :
         {std::pair{m.read_bytes_per_second(), "read_bytes_per_second"},
          {m.read_floor_bytes_per_second(), "read_floor_bytes_per_second"},
          {m.write_bytes_per_second(), "write_bytes_per_second"}}) {
      if (absl::Status s = CheckRate(v, at, f); !s.ok()) return s;
    }
    if (absl::Status s = CheckDuration(m.arc_ns(), at, "arc_ns"); !s.ok())
      return s;
  }
  if (absl::Status s =
          CheckDuration(c.commit_overhead_ns(), where, "commit_overhead_ns");
      !s.ok())
    return s;
  if (absl::Status s = CheckDuration(c.stop_copy_overhead_ns(), where,
                                     "stop_copy_overhead_ns");
      !s.ok())
    return s;
  return CheckRate(c.link_bytes_per_second(), where, "link_bytes_per_second");
}

absl::StatusOr<v1::Calibration> ReadCalibrationFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > (16u << 20)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": larger than 16 MiB: not a calibration file"));
  }
  v1::Calibration c;
  google::protobuf::TextFormat::Parser parser;
  FirstError errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &c)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": ", errors.first.empty() ? "cannot parse" : errors.first));
  }
  if (absl::Status s = CheckCalibration(c, path); !s.ok()) return s;
  return c;
}

absl::Status WriteCalibrationFile(const std::string& path,
                                  const v1::Calibration& c) {
  std::string text;
  if (!google::protobuf::TextFormat::PrintToString(c, &text))
    return absl::InternalError("cannot print the calibration");
  const std::string tmp = absl::StrCat(path, ".tmp");
  const int fd =
      open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat(tmp, ": cannot create: ", std::strerror(errno)));
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrCat(tmp, ": cannot write: ", std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = fsync(fd) == 0;
  close(fd);
  if (!synced || rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot replace: ", std::strerror(e)));
  }
  return absl::OkStatus();
}

v1::Calibration::Provenance MakeProvenance(const std::string& method) {
  v1::Calibration::Provenance p;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0) p.set_host(host);
  p.set_cpu(CpuModel());
  p.set_date(
      absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()));
#ifdef VMIG_VERSION
  p.set_vmigd_version(VMIG_VERSION);
#endif
  struct utsname u;
  if (uname(&u) == 0) p.set_kernel(u.release);
  p.set_method(method);
  return p;
}

}  // namespace vmig::daemon
