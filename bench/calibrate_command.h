// vmig-bench calibrate: measures device classes between two local daemons
// and writes a calibration file (vmig.v1.Calibration) that a daemon loads
// through its configuration's calibration_file.
#ifndef VMIGD_BENCH_CALIBRATE_COMMAND_H_
#define VMIGD_BENCH_CALIBRATE_COMMAND_H_

#include <string>
#include <vector>

namespace vmig::bench {

int RunCalibrate(const std::vector<std::string>& args);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_CALIBRATE_COMMAND_H_
