#include "control/server/reflection_v1.h"

#include <set>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace vmig::server {
namespace {

namespace refl = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

void Error(refl::ServerReflectionResponse& resp, grpc::StatusCode code,
           const std::string& message) {
  resp.mutable_error_response()->set_error_code(static_cast<int32_t>(code));
  resp.mutable_error_response()->set_error_message(message);
}

// `file` and what it imports, each once per stream (a client keeps what it
// was sent, as the protocol expects).
void AddFile(const FileDescriptor* file, std::set<std::string>& sent,
             refl::FileDescriptorResponse& out) {
  if (!sent.insert(file->name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out.add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i)
    AddFile(file->dependency(i), sent, out);
}

void FileResponse(const FileDescriptor* file, const std::string& what,
                  std::set<std::string>& sent,
                  refl::ServerReflectionResponse& resp) {
  if (!file) {
    Error(resp, grpc::StatusCode::NOT_FOUND, what + " not found");
    return;
  }
  auto* out = resp.mutable_file_descriptor_response();
  AddFile(file, sent, *out);
  // Asked again for a file already sent: send it again, alone.
  if (out->file_descriptor_proto_size() == 0) {
    google::protobuf::FileDescriptorProto proto;
    file->CopyTo(&proto);
    proto.SerializeToString(out->add_file_descriptor_proto());
  }
}

}  // namespace

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext*,
    grpc::ServerReaderWriter<refl::ServerReflectionResponse,
                             refl::ServerReflectionRequest>* stream) {
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  std::set<std::string> sent;
  refl::ServerReflectionRequest req;
  while (stream->Read(&req)) {
    refl::ServerReflectionResponse resp;
    resp.set_valid_host(req.host());
    *resp.mutable_original_request() = req;
    switch (req.message_request_case()) {
      case refl::ServerReflectionRequest::kListServices:
        for (const std::string& s : services_)
          resp.mutable_list_services_response()->add_service()->set_name(s);
        break;
      case refl::ServerReflectionRequest::kFileByFilename:
        FileResponse(pool->FindFileByName(req.file_by_filename()),
                     "file " + req.file_by_filename(), sent, resp);
        break;
      case refl::ServerReflectionRequest::kFileContainingSymbol:
        FileResponse(
            pool->FindFileContainingSymbol(req.file_containing_symbol()),
            "symbol " + req.file_containing_symbol(), sent, resp);
        break;
      case refl::ServerReflectionRequest::kFileContainingExtension: {
        const auto& e = req.file_containing_extension();
        const auto* type = pool->FindMessageTypeByName(e.containing_type());
        const auto* ext =
            type ? pool->FindExtensionByNumber(type, e.extension_number())
                 : nullptr;
        FileResponse(ext ? ext->file() : nullptr,
                     "extension " + std::to_string(e.extension_number()) +
                         " of " + e.containing_type(),
                     sent, resp);
        break;
      }
      case refl::ServerReflectionRequest::kAllExtensionNumbersOfType: {
        const std::string& name = req.all_extension_numbers_of_type();
        const auto* type = pool->FindMessageTypeByName(name);
        if (!type) {
          Error(resp, grpc::StatusCode::NOT_FOUND,
                "type " + name + " not found");
          break;
        }
        std::vector<const google::protobuf::FieldDescriptor*> exts;
        pool->FindAllExtensions(type, &exts);
        auto* out = resp.mutable_all_extension_numbers_response();
        out->set_base_type_name(name);
        for (const auto* f : exts) out->add_extension_number(f->number());
        break;
      }
      default:
        Error(resp, grpc::StatusCode::UNIMPLEMENTED,
              "the request names nothing to reflect on");
    }
    if (!stream->Write(resp)) break;
  }
  return grpc::Status::OK;
}

}  // namespace vmig::server
