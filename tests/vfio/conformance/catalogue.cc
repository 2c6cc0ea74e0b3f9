#include "tests/vfio/conformance/catalogue.h"

#include <string.h>

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "vfio/fsm.h"

namespace vmig::vfio::conformance {
namespace {

using S = DeviceState;
constexpr std::array<S, 7> kStates = {
    S::kRunning,  S::kRunningP2P, S::kPreCopy, S::kPreCopyP2P,
    S::kStopCopy, S::kStop,       S::kResuming};

std::string StateOf(MigrationDevice& d) {
  absl::StatusOr<S> s = d.GetState();
  return s.ok() ? std::string(DeviceStateName(*s)) : "state unknown";
}

std::string Raw(Backend& b) {
  std::optional<int> e = b.last_errno();
  if (!e || *e == 0) return "";
  const char* name = strerrorname_np(*e);
  return absl::StrCat(" [", name ? name : std::to_string(*e), "]");
}

std::string Refused(const absl::Status& s, Backend& b) {
  return absl::StrCat("refused ", absl::StatusCodeToString(s.code()), Raw(b));
}

// A data_fd operation's error: only that it failed and, from the kernel,
// the errno (the emulated device's codes are its own).
std::string Error(Backend& b) { return absl::StrCat("error", Raw(b)); }

absl::string_view OutcomeName(ReadOutcome o) {
  switch (o) {
    case ReadOutcome::kData:
      return "data";
    case ReadOutcome::kNoMoreForNow:
      return "no more for now";
    case ReadOutcome::kEndOfStream:
      return "end of stream";
    case ReadOutcome::kWouldBlock:
      return "would block";
  }
  return "?";
}

struct Drained {
  std::string bytes;
  int data_reads = 0;
  ReadOutcome last = ReadOutcome::kData;
  bool error = false;
};

// Reads until the session stops giving data (at most 1 MiB, so that a
// backend that never ends cannot hang the catalogue).
Drained Drain(DataSession& s, size_t chunk) {
  Drained d;
  std::string buf(chunk, '\0');
  while (d.bytes.size() < (1u << 20)) {
    absl::StatusOr<ReadResult> r = s.Read(
        absl::MakeSpan(reinterpret_cast<uint8_t*>(buf.data()), buf.size()));
    if (!r.ok()) {
      d.error = true;
      return d;
    }
    d.last = r->outcome;
    if (r->outcome != ReadOutcome::kData) return d;
    ++d.data_reads;
    d.bytes.append(buf.data(), r->bytes);
  }
  return d;
}

std::string Describe(const PrecopyInfo& i) {
  return absl::StrCat("initial ", i.initial_bytes > 0 ? ">0" : "0", ", dirty ",
                      i.dirty_bytes > 0 ? ">0" : "0");
}

// The case's frame: fresh devices, the body's outcome, or why the frame
// failed (which differs from every real outcome).
Case Make(
    std::string name,
    std::function<std::string(Backend&, MigrationDevice&, MigrationDevice&)>
        body) {
  return Case{std::move(name),
              [body](Backend& b) -> std::string {
                if (absl::Status s = b.Prepare(); !s.ok())
                  return absl::StrCat("prepare failed: ", s.ToString());
                b.ClearErrno();
                return body(b, b.device(0), b.device(1));
              },
              std::nullopt};
}

std::string PlannerOutcome(MigrationFlags f, S from, S to) {
  absl::StatusOr<std::vector<S>> path = PlanPath(f, from, to);
  if (!path.ok()) {
    return absl::StrCat("refused INVALID_ARGUMENT, device ",
                        DeviceStateName(from));
  }
  const bool opens =
      path->size() >= 2 &&
      ArcOpensDataSession((*path)[path->size() - 2], path->back());
  return absl::StrCat("ok, ", DeviceStateName(to),
                      opens ? ", new data_fd" : "");
}

void AddArcCases(MigrationFlags f, const std::string& suffix,
                 std::vector<Case>& out) {
  for (S from : kStates) {
    if (!StateSupported(f, from)) continue;
    std::vector<S> targets(kStates.begin(), kStates.end());
    targets.push_back(S::kError);
    for (S to : targets) {
      Case c = Make(
          absl::StrCat("arc ", DeviceStateName(from), " -> ",
                       DeviceStateName(to), suffix),
          [from, to](Backend& b, MigrationDevice& d, MigrationDevice&) {
            absl::StatusOr<std::unique_ptr<DataSession>> held =
                d.SetState(from);
            if (!held.ok())
              return absl::StrCat("cannot reach ", DeviceStateName(from), ": ",
                                  held.status().ToString());
            b.ClearErrno();
            absl::StatusOr<std::unique_ptr<DataSession>> r = d.SetState(to);
            if (!r.ok())
              return absl::StrCat(Refused(r.status(), b), ", device ",
                                  StateOf(d));
            return absl::StrCat("ok, ", StateOf(d), *r ? ", new data_fd" : "");
          });
      // Leaving RESUMING loads what was written (nothing here): the
      // driver judges that, not the table, so only a kernel is a reference.
      if (from != S::kResuming || to == S::kResuming ||
          !PlanPath(f, from, to).ok())
        c.planner = PlannerOutcome(f, from, to);
      out.push_back(std::move(c));
    }
  }
  out.push_back(Make(absl::StrCat("arc RUNNING -> 8 (no such state)", suffix),
                     [](Backend& b, MigrationDevice& d, MigrationDevice&) {
                       std::optional<int> e = b.RawSetState(0, 8);
                       if (!e) return std::string("n/a");
                       const char* n = strerrorname_np(*e);
                       return absl::StrCat(*e == 0 ? "ok" : "refused", " [",
                                           n ? n : "0", "], device ",
                                           StateOf(d));
                     }));
}

// The whole saving stream of `d`, from STOP_COPY, read `chunk` at a time.
absl::StatusOr<std::string> SaveAll(MigrationDevice& d, size_t chunk) {
  absl::StatusOr<std::unique_ptr<DataSession>> s = d.SetState(S::kStopCopy);
  if (!s.ok()) return s.status();
  if (!*s) return absl::InternalError("STOP_COPY gave no data_fd");
  Drained all = Drain(**s, chunk);
  if (all.error || all.last != ReadOutcome::kEndOfStream)
    return absl::InternalError("the stream did not end");
  return all.bytes;
}

// Writes `stream` into `dst` (RESUMING) `chunk` at a time, then asks for
// STOP: what the writes and the load said.
std::string Resume(Backend& b, MigrationDevice& dst, const std::string& stream,
                   size_t chunk) {
  absl::StatusOr<std::unique_ptr<DataSession>> s = dst.SetState(S::kResuming);
  if (!s.ok() || !*s) return "cannot reach RESUMING";
  b.ClearErrno();
  for (size_t off = 0; off < stream.size(); off += chunk) {
    const size_t n = std::min(chunk, stream.size() - off);
    absl::Status w = WriteAll(
        **s, absl::MakeConstSpan(
                 reinterpret_cast<const uint8_t*>(stream.data()) + off, n));
    if (!w.ok())
      return absl::StrCat("write ", Error(b), ", device ", StateOf(dst));
  }
  b.ClearErrno();
  absl::StatusOr<std::unique_ptr<DataSession>> stop = dst.SetState(S::kStop);
  if (!stop.ok())
    return absl::StrCat("writes ok; STOP ", Refused(stop.status(), b),
                        ", device ", StateOf(dst));
  return absl::StrCat("writes ok; ok, ", StateOf(dst));
}

void AddDataCases(std::vector<Case>& out);
void AddResumeAndResetCases(std::vector<Case>& out);

}  // namespace

bool SameOutcome(const std::string& a, bool a_syscalls, const std::string& b,
                 bool b_syscalls) {
  if (a_syscalls && b_syscalls) return a == b;
  auto strip = [](std::string s) {
    for (size_t open; (open = s.find(" [")) != std::string::npos;) {
      const size_t close = s.find(']', open);
      if (close == std::string::npos) break;
      s.erase(open, close - open + 1);
    }
    return s;
  };
  return strip(a) == strip(b);
}

std::vector<Case> Catalogue(MigrationFlags flags) {
  std::vector<Case> out;
  const bool all = flags == kAllMigrationFlags;
  AddArcCases(flags, all ? "" : absl::StrCat(" (", flags.ToString(), ")"), out);
  if (!all) return out;
  out.push_back(Make("open: the device fd handed over by SCM_RIGHTS",
                     [](Backend& b, MigrationDevice&, MigrationDevice&) {
                       std::string r = b.HandOverDeviceFd();
                       return r.empty() ? std::string("n/a") : r;
                     }));
  out.push_back(
      Make("open: migration flags",
           [](Backend&, MigrationDevice& d, MigrationDevice&) -> std::string {
             absl::StatusOr<MigrationFlags> f = d.GetMigrationFlags();
             return f.ok() ? f->ToString() : f.status().ToString();
           }));
  AddDataCases(out);
  AddResumeAndResetCases(out);
  return out;
}

namespace {

void AddDataCases(std::vector<Case>& out) {
  out.push_back(
      Make("PRE_COPY: read until caught up",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             auto s = d.SetState(S::kPreCopy);
             if (!s.ok() || !*s) return "no data_fd";
             Drained r = Drain(**s, 4096);
             if (r.error) return Error(b);
             std::string raw;
             if (std::optional<ssize_t> n = b.last_read(); n && *n == 0)
               raw = " [read()=0]";
             else
               raw = Raw(b);
             return absl::StrCat(r.data_reads > 0 ? "data, then " : "",
                                 OutcomeName(r.last), raw);
           }));
  out.push_back(
      Make("PRE_COPY: PRECOPY_INFO before any read",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             auto s = d.SetState(S::kPreCopy);
             if (!s.ok() || !*s) return "no data_fd";
             absl::StatusOr<PrecopyInfo> i = (*s)->GetPrecopyInfo();
             return i.ok() ? Describe(*i) : Refused(i.status(), b);
           }));
  out.push_back(
      Make("PRE_COPY: PRECOPY_INFO once caught up",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             auto s = d.SetState(S::kPreCopy);
             if (!s.ok() || !*s) return "no data_fd";
             Drain(**s, 4096);
             absl::StatusOr<PrecopyInfo> i = (*s)->GetPrecopyInfo();
             return i.ok() ? Describe(*i) : Refused(i.status(), b);
           }));
  out.push_back(
      Make("STOP_COPY: PRECOPY_INFO on the same data_fd",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             auto s = d.SetState(S::kPreCopy);
             if (!s.ok() || !*s) return "no data_fd";
             if (!d.SetState(S::kStopCopy).ok())
               return "cannot reach STOP_COPY";
             b.ClearErrno();
             absl::StatusOr<PrecopyInfo> i = (*s)->GetPrecopyInfo();
             return i.ok() ? Describe(*i) : Refused(i.status(), b);
           }));
  out.push_back(Make("PRECOPY_INFOv2 opt-in (feature 12)",
                     [](Backend& b, MigrationDevice& d, MigrationDevice&) {
                       absl::Status s = d.EnablePrecopyInfoV2();
                       return s.ok() ? std::string("ok") : Refused(s, b);
                     }));
  out.push_back(Make(
      "MIG_DATA_SIZE in every state",
      [](Backend& b, MigrationDevice&, MigrationDevice&) -> std::string {
        std::vector<std::string> bad;
        for (S st : kStates) {
          // A fresh device for each state (Prepare may make new ones).
          if (!b.Prepare().ok()) return "prepare failed";
          MigrationDevice& d = b.device(0);
          auto held = d.SetState(st);
          if (!held.ok())
            return absl::StrCat("cannot reach ", DeviceStateName(st));
          absl::StatusOr<uint64_t> n = d.GetStopCopyLength();
          if (!n.ok() || *n == 0)
            bad.push_back(absl::StrCat(DeviceStateName(st), ": ",
                                       n.ok() ? "0" : Refused(n.status(), b)));
        }
        return bad.empty() ? "> 0 in every state" : absl::StrJoin(bad, "; ");
      }));
  out.push_back(
      Make("STOP_COPY from STOP: read to the end",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             absl::StatusOr<uint64_t> size = d.GetStopCopyLength();
             auto s = d.SetState(S::kStopCopy);
             if (!size.ok() || !s.ok() || !*s) return "no data_fd";
             Drained r = Drain(**s, 4096);
             if (r.error) return Error(b);
             Drained again = Drain(**s, 4096);
             return absl::StrCat(
                 "data, then ", OutcomeName(r.last), ", then ",
                 again.error ? Error(b) : std::string(OutcomeName(again.last)),
                 r.bytes.size() == *size
                     ? "; bytes = MIG_DATA_SIZE"
                     : absl::StrCat("; ", r.bytes.size(),
                                    " bytes, MIG_DATA_SIZE ", *size));
           }));
  out.push_back(Make(
      "PRE_COPY then STOP_COPY on one data_fd",
      [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
        absl::StatusOr<uint64_t> size = d.GetStopCopyLength();
        auto s = d.SetState(S::kPreCopy);
        if (!size.ok() || !s.ok() || !*s) return "no data_fd";
        Drained pre = Drain(**s, 4096);
        auto stop = d.SetState(S::kStopCopy);
        if (!stop.ok()) return Refused(stop.status(), b);
        Drained rest = Drain(**s, 4096);
        if (pre.error || rest.error) return Error(b);
        const uint64_t total = pre.bytes.size() + rest.bytes.size();
        return absl::StrCat(
            *stop ? "a new data_fd" : "the same data_fd", ", ",
            OutcomeName(rest.last),
            total == *size
                ? "; both parts = MIG_DATA_SIZE read in RUNNING"
                : absl::StrCat("; ", total, " bytes, MIG_DATA_SIZE ", *size));
      }));
  out.push_back(
      Make("STOP_COPY: 1-byte reads give the stream 4 KiB reads give",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             absl::StatusOr<std::string> small = SaveAll(d, 1);
             if (!small.ok()) return small.status().ToString();
             if (!b.Prepare().ok()) return "prepare failed";
             absl::StatusOr<std::string> big = SaveAll(b.device(0), 4096);
             if (!big.ok()) return big.status().ToString();
             return *small == *big ? "same bytes" : "different bytes";
           }));
  out.push_back(
      Make("STOP_COPY: a read into an empty buffer",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             auto s = d.SetState(S::kStopCopy);
             if (!s.ok() || !*s) return "no data_fd";
             absl::StatusOr<ReadResult> r = (*s)->Read(absl::Span<uint8_t>());
             if (!r.ok()) return Refused(r.status(), b);
             return std::string(OutcomeName(r->outcome));
           }));
  out.push_back(
      Make("PRE_COPY: data_fd closed early, then STOP_COPY",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             {
               auto s = d.SetState(S::kPreCopy);
               if (!s.ok() || !*s) return "no data_fd";
             }
             auto r = d.SetState(S::kStopCopy);
             if (!r.ok()) return Refused(r.status(), b);
             return absl::StrCat("ok, ", StateOf(d), *r ? ", new data_fd" : "");
           }));
  out.push_back(
      Make("saving data_fd read after the device left the group",
           [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
             auto s = d.SetState(S::kPreCopy);
             if (!s.ok() || !*s) return "no data_fd";
             if (!d.SetState(S::kRunning).ok())
               return "cannot return to RUNNING";
             b.ClearErrno();
             Drained r = Drain(**s, 4096);
             return r.error ? Error(b) : std::string(OutcomeName(r.last));
           }));
}

void AddResumeAndResetCases(std::vector<Case>& out) {
  struct Variant {
    const char* name;
    std::function<void(std::string&)> mangle;
    size_t chunk;
  };
  const std::vector<Variant> variants = {
      {"the whole stream", [](std::string&) {}, 4096},
      {"the whole stream in 1-byte writes", [](std::string&) {}, 1},
      {"half the stream", [](std::string& s) { s.resize(s.size() / 2); }, 4096},
      {"the first byte flipped", [](std::string& s) { s[0] ^= 0x5a; }, 4096},
      {"4 KiB more than the stream",
       [](std::string& s) { s.append(4096, '\0'); }, 4096},
  };
  for (const Variant& v : variants) {
    out.push_back(Make(absl::StrCat("RESUMING: ", v.name, ", then STOP"),
                       [v](Backend& b, MigrationDevice& src,
                           MigrationDevice& dst) -> std::string {
                         absl::StatusOr<std::string> stream =
                             SaveAll(src, 4096);
                         if (!stream.ok()) return stream.status().ToString();
                         v.mangle(*stream);
                         return Resume(b, dst, *stream, v.chunk);
                       }));
  }
  out.push_back(Make(
      "RESUMING data_fd written after a reset",
      [](Backend& b, MigrationDevice& d, MigrationDevice&) -> std::string {
        auto s = d.SetState(S::kResuming);
        if (!s.ok() || !*s) return "no data_fd";
        if (!d.Reset().ok()) return "reset failed";
        b.ClearErrno();
        const uint8_t byte = 0;
        absl::StatusOr<size_t> w = (*s)->Write(absl::MakeConstSpan(&byte, 1));
        return w.ok() ? absl::StrCat("ok, ", *w, " bytes") : Error(b);
      }));
  for (S from : kStates) {
    out.push_back(Make(absl::StrCat("reset from ", DeviceStateName(from)),
                       [from](Backend& b, MigrationDevice& d,
                              MigrationDevice&) -> std::string {
                         auto held = d.SetState(from);
                         if (!held.ok()) return "cannot reach the state";
                         absl::Status r = d.Reset();
                         if (!r.ok()) return Refused(r, b);
                         return StateOf(d);
                       }));
  }
  out.push_back(Make("reset after a failed load, then a whole stream loads",
                     [](Backend& b, MigrationDevice& src,
                        MigrationDevice& dst) -> std::string {
                       absl::StatusOr<std::string> stream = SaveAll(src, 4096);
                       if (!stream.ok()) return stream.status().ToString();
                       std::string half = stream->substr(0, stream->size() / 2);
                       std::string first = Resume(b, dst, half, 4096);
                       if (!dst.Reset().ok()) return "reset failed";
                       const std::string after = StateOf(dst);
                       if (!dst.SetState(S::kStop).ok())
                         return "cannot reach STOP";
                       return absl::StrCat(after, " after the reset; ",
                                           Resume(b, dst, *stream, 4096));
                     }));
}

}  // namespace
}  // namespace vmig::vfio::conformance
