// XXH3 for the emulated device's stream, through xxhash's runtime dispatcher
// on x86-64 so that AVX2 is used where the CPU has it (the library's plain
// entry points are built for the SSE2 baseline).
#ifndef VMIGD_VFIO_EMU_HASH_H_
#define VMIGD_VFIO_EMU_HASH_H_

#include <xxhash.h>
#if defined(__x86_64__)
#include <xxh_x86dispatch.h>
#endif

#endif  // VMIGD_VFIO_EMU_HASH_H_
