#include "vfio/emu/spec.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/bounded.h"
#include "common/units.h"
#include "vfio/fsm.h"

namespace vmig::vfio::emu {
namespace {

absl::Status FieldError(absl::string_view key, absl::string_view value,
                        absl::string_view why) {
  // `why` may quote the value again (a parser's own message): bounded too.
  return absl::InvalidArgumentError(
      absl::StrCat("emulated device spec: field ", Bounded(key, 32), " = ",
                   Bounded(value), ": ", why.substr(0, 512)));
}

absl::Status ParseField(absl::string_view key, absl::string_view value,
                        EmuSpec& spec) {
  auto wrap = [&](const absl::Status& s) {
    return FieldError(key, value, s.message());
  };
  if (key == "name") {
    if (value.empty() || value.size() > 64) {
      return FieldError(key, value, "must be 1 to 64 characters");
    }
    for (char c : value) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') {
        return FieldError(key, value,
                          "may hold only letters, digits, '-', '_' and '.'");
      }
    }
    spec.name = std::string(value);
  } else if (key == "state") {
    absl::StatusOr<uint64_t> v = ParseBytes(value);
    if (!v.ok()) return wrap(v.status());
    if (*v == 0 || *v > (1ull << 46)) {
      return FieldError(key, value, "must be between 1 byte and 64 TiB");
    }
    spec.state_bytes = *v;
  } else if (key == "block") {
    absl::StatusOr<uint64_t> v = ParseBytes(value);
    if (!v.ok()) return wrap(v.status());
    // Below 512 B only as the whole of a smaller device (checked once the
    // state is known): what the canonical form of such a device says.
    if (*v < 8 || *v > (16u << 20) || *v % 8 != 0) {
      return FieldError(key, value,
                        "must be a multiple of 8 between 512 B and 16 MiB");
    }
    spec.block_bytes = static_cast<uint32_t>(*v);
  } else if (key == "dirty" || key == "read_bw" || key == "write_bw") {
    absl::StatusOr<double> v = ParseRate(value);
    if (!v.ok()) return wrap(v.status());
    (key == "dirty"     ? spec.dirty_bytes_per_s
     : key == "read_bw" ? spec.read_bytes_per_s
                        : spec.write_bytes_per_s) = *v;
  } else if (key == "read_ahead") {
    absl::StatusOr<uint64_t> v = ParseBytes(value);
    if (!v.ok()) return wrap(v.status());
    if (*v < 4096 || *v > (1ull << 30)) {
      return FieldError(key, value, "must be between 4 KiB and 1 GiB");
    }
    spec.read_ahead_bytes = *v;
  } else if (key == "flags") {
    absl::StatusOr<MigrationFlags> v = ParseMigrationFlags(value);
    if (!v.ok()) return wrap(v.status());
    spec.flags = *v;
  } else if (key == "transition_ms") {
    double ms = 0;
    // Written so that NaN fails too (every comparison with it is false).
    if (!absl::SimpleAtod(value, &ms) || !(ms >= 0 && ms <= 600000)) {
      return FieldError(key, value,
                        "must be a number of milliseconds, 0 to 600000");
    }
    spec.transition = absl::Microseconds(static_cast<int64_t>(ms * 1000));
  } else if (key == "seed") {
    if (!absl::SimpleAtoi(value, &spec.seed)) {
      return FieldError(key, value, "must be an unsigned 64-bit integer");
    }
  } else if (key == "fail_arc") {
    std::pair<absl::string_view, absl::string_view> arc =
        absl::StrSplit(value, absl::MaxSplits('>', 1));
    absl::StatusOr<DeviceState> from = ParseDeviceState(arc.first);
    absl::StatusOr<DeviceState> to = ParseDeviceState(arc.second);
    if (!from.ok() || !to.ok()) {
      return FieldError(key, value, "must be FROM>TO with uAPI state names");
    }
    spec.fail_arc = {*from, *to};
  } else if (key == "corrupt_at" || key == "reinit_after") {
    absl::StatusOr<uint64_t> v = ParseBytes(value);
    if (!v.ok()) return wrap(v.status());
    (key == "corrupt_at" ? spec.corrupt_at : spec.reinit_after) = *v;
  } else if (key == "state_file") {
    if (value.empty() || value.front() != '/' || value.size() > 4000)
      return FieldError(key, value, "must be an absolute path");
    for (char c : value) {
      if (!absl::ascii_isalnum(c) && c != '/' && c != '-' && c != '_' &&
          c != '.') {
        return FieldError(key, value,
                          "may hold only letters, digits, '/', '-', '_' "
                          "and '.'");
      }
    }
    spec.state_file = std::string(value);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "emulated device spec: unknown field ", Bounded(key, 32),
        " (known: name, state, block, dirty, read_bw, write_bw, read_ahead, "
        "flags, "
        "transition_ms, seed, fail_arc, corrupt_at, reinit_after, "
        "state_file)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<EmuSpec> ParseEmuSpec(absl::string_view text) {
  absl::string_view body = absl::StripAsciiWhitespace(text);
  if (!absl::ConsumePrefix(&body, "emu:") && body != "emu") {
    return absl::InvalidArgumentError(absl::StrCat(
        "emulated device spec ", Bounded(text), " must start with 'emu:'"));
  }
  EmuSpec spec;
  std::set<std::string, std::less<>> seen;
  for (absl::string_view item :
       absl::StrSplit(body, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(item, absl::MaxSplits('=', 1));
    absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (item.find('=') == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("emulated device spec: field ", Bounded(key, 32),
                       " has no '=value'"));
    }
    if (!seen.insert(std::string(key)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "emulated device spec: field ", Bounded(key, 32), " given twice"));
    }
    if (absl::Status s = ParseField(key, value, spec); !s.ok()) return s;
  }
  if (spec.read_ahead_bytes && spec.read_bytes_per_s <= 0) {
    // A device read as fast as memory has nothing to save ahead of.
    return absl::InvalidArgumentError(
        "emulated device spec: field 'read_ahead' needs a read_bw= to pace "
        "the device's saving");
  }
  if (spec.fail_arc) {
    // Only an arc the device's FSM takes can fail: anything else would be
    // a fault that never fires.
    const auto [from, to] = *spec.fail_arc;
    absl::StatusOr<DeviceState> next = NextState(spec.flags, from, to);
    if (from == to || !next.ok() || *next != to) {
      return absl::InvalidArgumentError(absl::StrCat(
          "emulated device spec: field 'fail_arc' = ", DeviceStateName(from),
          ">", DeviceStateName(to), ": not an arc the FSM takes for flags ",
          spec.flags.ToString()));
    }
  }
  if (spec.block_bytes < 512 && spec.block_bytes < spec.state_bytes) {
    return FieldError("block", absl::StrCat(spec.block_bytes),
                      "must be a multiple of 8 between 512 B and 16 MiB");
  }
  if (spec.block_bytes > spec.state_bytes) {
    spec.block_bytes = static_cast<uint32_t>((spec.state_bytes + 7) / 8 * 8);
  }
  // The device keeps 16 bytes of bookkeeping per block: bound the blocks, so
  // that an absurd size is refused here rather than failing an allocation.
  if (spec.num_blocks() > kMaxEmuBlocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "emulated device spec: state=", spec.state_bytes, " in blocks of ",
        spec.block_bytes, " bytes is ", spec.num_blocks(), " blocks; at most ",
        kMaxEmuBlocks, " (give a larger block=)"));
  }
  return spec;
}

std::string EmuSpec::ToString() const {
  std::string out = absl::StrFormat(
      "emu:name=%s,state=%d,block=%d,dirty=%.0f/s,read_bw=%.0f/s,write_bw=%.0f/"
      "s,"
      "flags=%s,transition_ms=%g,seed=%d",
      name, state_bytes, block_bytes, dirty_bytes_per_s, read_bytes_per_s,
      write_bytes_per_s, flags.ToString(),
      absl::ToDoubleMilliseconds(transition), seed);
  if (read_ahead_bytes)
    absl::StrAppend(&out, ",read_ahead=", *read_ahead_bytes);
  if (fail_arc) {
    absl::StrAppend(&out, ",fail_arc=", DeviceStateName(fail_arc->first), ">",
                    DeviceStateName(fail_arc->second));
  }
  if (corrupt_at) absl::StrAppend(&out, ",corrupt_at=", *corrupt_at);
  if (reinit_after) absl::StrAppend(&out, ",reinit_after=", *reinit_after);
  if (!state_file.empty()) absl::StrAppend(&out, ",state_file=", state_file);
  return out;
}

}  // namespace vmig::vfio::emu
