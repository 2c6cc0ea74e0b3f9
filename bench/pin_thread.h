// Pinning the calling thread to one CPU, for the benchmarks' own threads.
#ifndef VMIGD_BENCH_PIN_THREAD_H_
#define VMIGD_BENCH_PIN_THREAD_H_

#include <pthread.h>
#include <sched.h>

namespace vmig::bench {

// On a host without that CPU the thread floats: what it measures is then
// that host's, which is what the caller wants there too.
inline void PinThisThreadTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_PIN_THREAD_H_
