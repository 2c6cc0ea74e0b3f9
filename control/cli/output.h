// How vmigctl prints API objects: aligned tables, JSON or YAML.
#ifndef VMIGD_CONTROL_CLI_OUTPUT_H_
#define VMIGD_CONTROL_CLI_OUTPUT_H_

#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "vmig/v1/device.pb.h"
#include "vmig/v1/migration.pb.h"

namespace vmig::cli {

// Columns of equal width, a header line first.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// proto3 JSON, one object: indented, or compact on one line (watch -o
// json: one event per line).
std::string ToJson(const google::protobuf::Message& m, bool one_line = false);
// The same fields as YAML (block style), one document.
std::string ToYaml(const google::protobuf::Message& m);
// `m` as --output asks when it is not "table": json or yaml, newline-ended.
std::string Render(const std::string& format,
                   const google::protobuf::Message& m);

std::vector<std::string> DeviceHeader();
std::vector<std::string> DeviceRow(const v1::Device& d);
std::vector<std::string> SessionHeader();
std::vector<std::string> SessionRow(const v1::Session& s);
// Short names: "RUNNING", "PRECOPY", "stop_copy|p2p".
// A session's progress for `watch`: elapsed, bytes, rates, the prediction
// against the budget, time left, and why it waits.
std::vector<std::string> ProgressLines(const v1::Session& s);
std::string StateName(v1::DeviceState s);
std::string PhaseName(v1::Phase p);
// The phase, and for a queued session its place in line ("QUEUED #2").
std::string PhaseText(const v1::Session& s);
std::string FlagsText(const v1::MigrationFlags& f);
// The downtime breakdown, for humans.
void PrintReport(std::ostream& out, const v1::Session& s);
// A device's class and what the daemon knows of it, each figure with where
// it came from ("history": this daemon measured it; "peer", "calibration";
// "-": never measured, a guess).
void PrintMeasures(std::ostream& out, const v1::Device& d);

}  // namespace vmig::cli

#endif  // VMIGD_CONTROL_CLI_OUTPUT_H_
