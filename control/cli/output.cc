#include "control/cli/output.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/units.h"
#include "google/protobuf/util/json_util.h"
#include "proto/convert.h"
#include "yaml-cpp/yaml.h"

namespace vmig::cli {
namespace {

std::string Ms(const google::protobuf::Duration& d) {
  return absl::StrFormat("%.1f ms", ToMillis(d));
}

}  // namespace

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size())
        s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    out << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

std::string ToJson(const google::protobuf::Message& m, bool one_line) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = !one_line;
  opts.always_print_primitive_fields = true;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

namespace {

// JSON's flow style is YAML already; a person reads YAML in block style.
void ToBlockStyle(YAML::Node n) {
  n.SetStyle(YAML::EmitterStyle::Block);
  if (n.IsMap()) {
    for (auto kv : n) ToBlockStyle(kv.second);
  } else if (n.IsSequence()) {
    for (auto item : n) ToBlockStyle(item);
  }
}

}  // namespace

std::string ToYaml(const google::protobuf::Message& m) {
  // Through proto3 JSON (field names and enum spellings as the API's JSON
  // has them), then yaml-cpp, Debian's YAML library, for the emitting.
  YAML::Node n = YAML::Load(ToJson(m, /*one_line=*/true));
  ToBlockStyle(n);
  YAML::Emitter out;
  out << n;
  return std::string(out.c_str()) + "\n";
}

std::string Render(const std::string& format,
                   const google::protobuf::Message& m) {
  if (format == "yaml") return ToYaml(m);
  return ToJson(m);  // indented JSON ends with a newline
}

std::vector<std::string> ProgressLines(const v1::Session& s) {
  if (!s.has_progress()) return {};
  const v1::Progress& g = s.progress();
  std::vector<std::string> lines;
  std::string first = absl::StrFormat(
      "elapsed %.1f s  moved %s of %s (%s left)", ToMillis(g.elapsed()) / 1e3,
      FormatBytes(static_cast<double>(g.transferred_bytes())),
      FormatBytes(static_cast<double>(g.total_bytes())),
      FormatBytes(static_cast<double>(g.remaining_bytes())));
  if (g.dirty_bytes_per_second() > 0)
    absl::StrAppend(&first, "  dirty ", FormatRate(g.dirty_bytes_per_second()));
  if (g.precopy_rounds() > 0)
    absl::StrAppend(&first, "  rounds ", g.precopy_rounds());
  if (g.link_bytes_per_second() > 0)
    absl::StrAppend(&first, "  link ", FormatRate(g.link_bytes_per_second()));
  lines.push_back(first);
  if (s.role() == v1::ROLE_SOURCE && s.has_downtime_budget()) {
    std::string second =
        absl::StrFormat("downtime predicted %s (bound %s), budget %s",
                        Ms(s.predicted_downtime()), Ms(g.predicted_bound()),
                        Ms(s.downtime_budget()));
    if (g.has_time_left())
      absl::StrAppend(&second, ", ",
                      absl::StrFormat("%.1f s", ToMillis(g.time_left()) / 1e3),
                      " left of max_precopy");
    lines.push_back(second);
  }
  if (s.max_bandwidth() > 0 || s.switchover_bandwidth() > 0) {
    auto cap = [](uint64_t r) {
      return r > 0 ? FormatRate(static_cast<double>(r)) : std::string("none");
    };
    lines.push_back(absl::StrCat("caps: pre-copy ", cap(s.max_bandwidth()),
                                 ", switchover ",
                                 cap(s.switchover_bandwidth())));
  }
  if (!g.waiting_reason().empty())
    lines.push_back("waiting: " + g.waiting_reason());
  if (!g.prediction_guesses().empty())
    lines.push_back("guessed: " + g.prediction_guesses());
  return lines;
}

std::string StateName(v1::DeviceState s) {
  std::string n = v1::DeviceState_Name(s);
  absl::string_view v = n;
  absl::ConsumePrefix(&v, "DEVICE_STATE_");
  return std::string(v);
}

std::string PhaseName(v1::Phase p) {
  std::string n = v1::Phase_Name(p);
  absl::string_view v = n;
  absl::ConsumePrefix(&v, "PHASE_");
  return std::string(v);
}

std::string FlagsText(const v1::MigrationFlags& f) {
  std::vector<std::string> parts;
  if (f.stop_copy()) parts.push_back("stop_copy");
  if (f.p2p()) parts.push_back("p2p");
  if (f.pre_copy()) parts.push_back("pre_copy");
  return parts.empty() ? "-" : absl::StrJoin(parts, "|");
}

std::vector<std::string> DeviceHeader() {
  return {"NAME", "BACKEND", "STATE", "FLAGS", "STOP_COPY", "SESSION"};
}

std::vector<std::string> DeviceRow(const v1::Device& d) {
  std::string backend = d.backend() == v1::BACKEND_EMULATED ? "emulated"
                        : d.backend() == v1::BACKEND_KERNEL ? "kernel"
                                                            : "-";
  return {d.name(),
          backend,
          StateName(d.state()),
          FlagsText(d.flags()),
          FormatBytes(static_cast<double>(d.stop_copy_length())),
          d.session().empty() ? "-" : d.session()};
}

std::string PhaseText(const v1::Session& s) {
  if (s.phase() == v1::PHASE_QUEUED && s.queue_position() > 0)
    return absl::StrCat(PhaseName(s.phase()), " #", s.queue_position());
  return PhaseName(s.phase());
}

std::vector<std::string> SessionHeader() {
  return {"NAME", "ROLE", "PHASE", "DEVICES", "PREDICTED", "DOWNTIME", "ERROR"};
}

std::vector<std::string> SessionRow(const v1::Session& s) {
  std::string role = s.role() == v1::ROLE_SOURCE ? "source" : "destination";
  return {s.name(),
          role,
          PhaseText(s),
          absl::StrCat(s.devices_size()),
          s.has_predicted_downtime() ? Ms(s.predicted_downtime()) : "-",
          s.has_report() ? Ms(s.report().downtime()) : "-",
          s.error().empty() ? "-" : s.error()};
}

namespace {

std::string OriginName(v1::MeasureOrigin o) {
  switch (o) {
    case v1::MEASURE_ORIGIN_CALIBRATION:
      return "calibration";
    case v1::MEASURE_ORIGIN_PEER:
      return "peer";
    case v1::MEASURE_ORIGIN_HISTORY:
      return "history";
    default:
      return "none";
  }
}

}  // namespace

void PrintMeasures(std::ostream& out, const v1::Device& d) {
  if (d.device_class().empty()) return;
  const v1::DeviceClassMeasures& m = d.measures();
  auto rate = [](double v, v1::MeasureOrigin o) {
    return v > 0 ? absl::StrCat(FormatBytes(v), "/s (", OriginName(o), ")")
                 : std::string("- (not measured: a guess)");
  };
  out << "class:      " << d.device_class() << "\n"
      << "read rate:  " << rate(m.read_bytes_per_second(), m.read_origin())
      << "\n"
      << "read floor: "
      << rate(m.read_floor_bytes_per_second(), m.read_floor_origin()) << "\n"
      << "write rate: " << rate(m.write_bytes_per_second(), m.write_origin())
      << "\n"
      << "arc:        "
      << (m.arc_ns() > 0 ? absl::StrFormat("%.2f ms (%s)", m.arc_ns() / 1e6,
                                           OriginName(m.arc_origin()))
                         : std::string("- (not measured: a guess)"))
      << "\n";
}

void PrintReport(std::ostream& out, const v1::Session& s) {
  out << s.name() << ": " << PhaseText(s);
  if (!s.error().empty()) out << ": " << s.error();
  out << "\n";
  if (!s.has_report()) return;
  const auto& r = s.report();
  out << "  downtime            " << Ms(r.downtime()) << " (predicted "
      << Ms(r.predicted()) << ", bound " << Ms(r.predicted_bound())
      << ", budget " << Ms(r.budget()) << ": "
      << (r.budget_met() ? "met" : "MISSED")
      << (r.switched_over_budget() ? ", switched over past it as allowed" : "")
      << ")\n";
  if (!r.overrun().empty())
    out << "  overran             " << r.overrun() << "\n";
  out << "  quiesce             " << Ms(r.quiesce()) << " (predicted "
      << Ms(r.predicted_quiesce()) << ")\n"
      << "  stop-copy transfer  " << Ms(r.stop_copy_transfer())
      << " (predicted " << Ms(r.predicted_stop_copy()) << ")\n"
      << "  destination load    " << Ms(r.destination_load()) << "\n"
      << "  resume              " << Ms(r.resume()) << "\n"
      << "  destination commit  " << Ms(r.destination_commit())
      << " on its clock (all written after " << Ms(r.destination_written())
      << ")\n";
  if (r.has_same_host_downtime())
    out << "  one-clock downtime  " << Ms(r.same_host_downtime())
        << " (both daemons on this host)\n";
  if (!r.prediction_guesses().empty())
    out << "  guessed             " << r.prediction_guesses() << "\n";
  for (const auto& d : r.devices()) {
    out << "    " << d.device() << ": "
        << FormatBytes(static_cast<double>(d.bytes())) << " in "
        << Ms(d.transfer()) << " (predicted " << Ms(d.predicted_transfer())
        << ")\n";
  }
}

}  // namespace vmig::cli
