// The most a transport with one worker a side and one copy can move on this
// machine: the passes no such transport can skip, with no protocol at all.
//
// One thread on the sender's CPU reads emulated source devices straight
// into shared frame buffers (what memif's zero-copy client does); one on
// the receiver's CPU copies each frame out (what memif's server does) and
// writes it into its emulated RESUMING device, then hands the buffer back.
// The two share one ring of buffer slots, with a lock-free head and tail
// index. There are no
// headers, no checksum, no cipher, no acknowledgements and no window, so a
// real transport over memif can only come under it: vmig-bench transport
// reports the fraction of it that vmigd reaches, and what it is against
// kernel TCP says what ratio any transport could reach here.
#ifndef VMIGD_BENCH_PIPELINE_CEILING_H_
#define VMIGD_BENCH_PIPELINE_CEILING_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace vmig::bench {

struct PipelineCeilingConfig {
  int streams = 4;
  uint64_t bytes = 0;            // over all streams
  uint32_t frame_bytes = 64000;  // payload a buffer carries
  // Frame buffers, used in FIFO order. As many as a memif port's pool
  // (about 2300 at its MTU): a buffer then comes back to the sender after
  // its lines have left the receiver's core. On a 2-core AMD EPYC, 16, 64,
  // 256, 1024, 2048 and 4096 buffers gave about 6, 6.5, 7.8, 10-12, 13.5
  // and 12-13.7 GB/s.
  uint32_t buffers = 2048;
  int sender_cpu = 0;  // where each thread is pinned
  int receiver_cpu = 1;
};

struct PipelineCeilingResult {
  double bytes_per_second = 0;
  bool verified = false;  // every destination's digest matched its source
};

absl::StatusOr<PipelineCeilingResult> PipelineCeiling(
    const PipelineCeilingConfig& c);

}  // namespace vmig::bench

#endif  // VMIGD_BENCH_PIPELINE_CEILING_H_
