// The VFIO uAPI pieces vmigd uses, defined here because Debian 12's
// <linux/vfio.h> (Linux 6.1) lacks PRE_COPY, PRECOPY_INFO, MIG_DATA_SIZE and
// the cdev/iommufd ioctls. Layouts are checked against the uAPI below.
#ifndef VMIGD_VFIO_UAPI_H_
#define VMIGD_VFIO_UAPI_H_

#include <linux/ioctl.h>

#include <cstddef>
#include <cstdint>

namespace vmig::vfio::uapi {

inline constexpr unsigned kVfioType = ';';  // 0x3B
inline constexpr unsigned kVfioBase = 100;

constexpr unsigned long VfioIo(unsigned nr) {
  return _IO(kVfioType, kVfioBase + nr);
}

// Container and group (legacy) ioctls.
inline constexpr unsigned long kGetApiVersion = VfioIo(0);
inline constexpr unsigned long kCheckExtension = VfioIo(1);
inline constexpr unsigned long kSetIommu = VfioIo(2);
inline constexpr unsigned long kGroupGetStatus = VfioIo(3);
inline constexpr unsigned long kGroupSetContainer = VfioIo(4);
inline constexpr unsigned long kGroupGetDeviceFd = VfioIo(6);
// Device ioctls.
inline constexpr unsigned long kDeviceReset = VfioIo(11);
inline constexpr unsigned long kDeviceFeature = VfioIo(17);
inline constexpr unsigned long kDeviceBindIommufd = VfioIo(18);
inline constexpr unsigned long kDeviceAttachIommufdPt = VfioIo(19);
// On the migration data_fd.
inline constexpr unsigned long kMigGetPrecopyInfo = VfioIo(21);
// iommufd.
inline constexpr unsigned long kIommuIoasAlloc = _IO(kVfioType, 0x81);

static_assert(kDeviceReset == 0x3B6F);
static_assert(kDeviceFeature == 0x3B75);
static_assert(kMigGetPrecopyInfo == 0x3B79);

inline constexpr int kApiVersion = 0;
inline constexpr unsigned long kType1v2Iommu = 3;
inline constexpr uint32_t kGroupFlagsViable = 1u << 0;

// struct vfio_device_feature: a header followed by the feature's payload.
inline constexpr uint32_t kFeatureMask = 0xffff;
inline constexpr uint32_t kFeatureGet = 1u << 16;
inline constexpr uint32_t kFeatureSet = 1u << 17;
inline constexpr uint32_t kFeatureProbe = 1u << 18;

inline constexpr uint32_t kFeatureMigration = 1;
inline constexpr uint32_t kFeatureMigDeviceState = 2;
inline constexpr uint32_t kFeatureMigDataSize = 9;
inline constexpr uint32_t kFeatureMigPrecopyInfoV2 = 12;

struct FeatureHeader {
  uint32_t argsz;
  uint32_t flags;
};

struct FeatureMigration {
  alignas(8) uint64_t flags;
};

struct FeatureMigState {
  uint32_t device_state;
  int32_t data_fd;
};

struct FeatureMigDataSize {
  alignas(8) uint64_t stop_copy_length;
};

// A feature request as the ioctl takes it: header, then payload.
template <typename Payload>
struct FeatureRequest {
  FeatureHeader header;
  Payload payload;
};

inline constexpr uint32_t kPrecopyInfoReinit = 1u << 0;
struct PrecopyInfo {
  uint32_t argsz;
  uint32_t flags;
  alignas(8) uint64_t initial_bytes;
  alignas(8) uint64_t dirty_bytes;
};

struct GroupStatus {
  uint32_t argsz;
  uint32_t flags;
};

struct BindIommufd {
  uint32_t argsz;
  uint32_t flags;
  int32_t iommufd;
  uint32_t out_devid;
};

struct AttachIommufdPt {
  uint32_t argsz;
  uint32_t flags;
  uint32_t pt_id;
};

struct IommuIoasAlloc {
  uint32_t size;
  uint32_t flags;
  uint32_t out_ioas_id;
};

static_assert(sizeof(FeatureHeader) == 8);
static_assert(sizeof(FeatureMigration) == 8);
static_assert(sizeof(FeatureMigState) == 8);
static_assert(sizeof(FeatureMigDataSize) == 8);
static_assert(sizeof(FeatureRequest<FeatureMigration>) == 16);
static_assert(offsetof(FeatureRequest<FeatureMigState>, payload) == 8);
static_assert(sizeof(PrecopyInfo) == 24);
static_assert(offsetof(PrecopyInfo, initial_bytes) == 8);
static_assert(offsetof(PrecopyInfo, dirty_bytes) == 16);
static_assert(sizeof(BindIommufd) == 16);
static_assert(sizeof(AttachIommufdPt) == 12);
static_assert(sizeof(IommuIoasAlloc) == 12);

}  // namespace vmig::vfio::uapi

#endif  // VMIGD_VFIO_UAPI_H_
