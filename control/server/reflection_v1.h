// gRPC server reflection v1 (grpc.reflection.v1.ServerReflection), beside
// the v1alpha service Debian's gRPC provides: clients that speak only v1
// (newer grpcurl, grpc_cli, Postman) can list vmigd's services and fetch
// their descriptors. Answers come from protobuf's generated pool, as
// v1alpha's do.
#ifndef VMIGD_CONTROL_SERVER_REFLECTION_V1_H_
#define VMIGD_CONTROL_SERVER_REFLECTION_V1_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace vmig::server {

class ReflectionV1Service final
    : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // `services`: the fully qualified names list_services answers with.
  explicit ReflectionV1Service(std::vector<std::string> services)
      : services_(std::move(services)) {}

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>*
          stream) override;

 private:
  const std::vector<std::string> services_;
};

}  // namespace vmig::server

#endif  // VMIGD_CONTROL_SERVER_REFLECTION_V1_H_
