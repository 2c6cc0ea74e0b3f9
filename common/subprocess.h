// Starting child processes with their output in files: for tools that
// orchestrate several processes (vmig-bench) and for integration tests.
#ifndef VMIGD_COMMON_SUBPROCESS_H_
#define VMIGD_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "common/files.h"  // ReadFileOrEmpty, for reading children's output

namespace vmig {

// Starts argv[0] (a path) with the environment plus `env`, stdin from
// /dev/null, stdout and stderr to the given files. Returns the pid or -1.
// The child is killed when the thread that started it exits (a crashed
// test leaves no daemon behind): start long-lived children from a thread
// that lives as long as they should.
pid_t Spawn(const std::vector<std::string>& argv,
            const std::map<std::string, std::string>& env,
            const std::string& out_path, const std::string& err_path);

// Waits for `pid`; returns its exit code, 128+signal if killed, -1 if it did
// not end within timeout_s (then it is killed).
int WaitExit(pid_t pid, double timeout_s);

// Where each thread of `pid` is, for a child that hangs: a line per thread
// with its id, name, state and the kernel function it waits in, then the
// top of its kernel stack where this process may read it (root). Empty if
// the process is gone.
std::string DescribeThreads(pid_t pid);

// This process's executable (/proc/self/exe), to start it again as a child.
std::string SelfPath();

// User plus system CPU time `pid` has used so far (/proc/PID/stat); 0 if it
// cannot be read.
double ProcessCpuSeconds(pid_t pid);

}  // namespace vmig

#endif  // VMIGD_COMMON_SUBPROCESS_H_
