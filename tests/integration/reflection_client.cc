// A client that knows only a server's address: it lists the services by
// reflection, fetches their descriptors, and calls a method with dynamic
// messages. Usage: reflection_client ADDR SERVICE METHOD [v1alpha|v1]
// Prints the services, then the response as text. The reflection protocol
// version is gRPC's v1alpha (the default) or v1.
#include <iostream>
#include <set>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/text_format.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "reflection.grpc.pb.h"

// The two versions have the same messages in different packages.
template <typename Reflection, typename Request, typename Response>
int Discover(const std::string& addr, const std::string& service,
             const std::string& method) {
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto stub = Reflection::NewStub(channel);

  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  Request req;
  Response resp;
  req.set_list_services("*");
  if (!stream->Write(req) || !stream->Read(&resp)) {
    std::cerr << "reflection: list_services failed\n";
    return 1;
  }
  bool found = false;
  for (const auto& s : resp.list_services_response().service()) {
    std::cout << "service " << s.name() << "\n";
    found = found || s.name() == service;
  }
  if (!found) {
    std::cerr << "service " << service << " not offered\n";
    return 1;
  }
  // The file that declares the service, with its dependencies.
  req.set_file_containing_symbol(service);
  if (!stream->Write(req) || !stream->Read(&resp) ||
      !resp.has_file_descriptor_response()) {
    std::cerr << "reflection: no descriptor for " << service << "\n";
    return 1;
  }
  google::protobuf::DescriptorPool pool;
  std::vector<google::protobuf::FileDescriptorProto> files;
  for (const auto& bytes :
       resp.file_descriptor_response().file_descriptor_proto()) {
    files.emplace_back().ParseFromString(bytes);
  }
  // Dependencies may be missing from the first answer: ask for each.
  std::set<std::string> have;
  for (const auto& f : files) have.insert(f.name());
  for (size_t i = 0; i < files.size(); ++i) {
    for (const auto& dep : files[i].dependency()) {
      if (have.count(dep)) continue;
      req.set_file_by_filename(dep);
      if (stream->Write(req) && stream->Read(&resp)) {
        for (const auto& bytes :
             resp.file_descriptor_response().file_descriptor_proto()) {
          google::protobuf::FileDescriptorProto f;
          f.ParseFromString(bytes);
          if (have.insert(f.name()).second) files.push_back(f);
        }
      }
    }
  }
  stream->WritesDone();
  // Build files after their dependencies.
  std::set<std::string> built;
  for (size_t round = 0;
       round < files.size() + 1 && built.size() < files.size(); ++round) {
    for (const auto& f : files) {
      if (built.count(f.name())) continue;
      bool ready = true;
      for (const auto& dep : f.dependency()) ready = ready && built.count(dep);
      if (ready && pool.BuildFile(f)) built.insert(f.name());
    }
  }
  const auto* svc = pool.FindServiceByName(service);
  const auto* m = svc ? svc->FindMethodByName(method) : nullptr;
  if (!m) {
    std::cerr << "method " << service << "/" << method << " not described\n";
    return 1;
  }
  google::protobuf::DynamicMessageFactory factory(&pool);
  std::unique_ptr<google::protobuf::Message> in(
      factory.GetPrototype(m->input_type())->New());
  std::unique_ptr<google::protobuf::Message> out(
      factory.GetPrototype(m->output_type())->New());
  std::string wire;
  in->SerializeToString(&wire);

  grpc::GenericStub generic(channel);
  grpc::ClientContext call_ctx;
  grpc::Slice slice(wire);
  grpc::ByteBuffer send(&slice, 1), recv;
  grpc::CompletionQueue cq;
  grpc::Status status;
  auto call = generic.PrepareUnaryCall(&call_ctx, "/" + service + "/" + method,
                                       send, &cq);
  call->StartCall();
  call->Finish(&recv, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) {
    std::cerr << "call failed: " << status.error_message() << "\n";
    return 1;
  }
  std::vector<grpc::Slice> slices;
  (void)recv.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  out->ParseFromString(bytes);
  std::string text;
  google::protobuf::TextFormat::PrintToString(*out, &text);
  std::cout << "response " << m->output_type()->full_name() << "\n" << text;
  return 0;
}

int main(int argc, char** argv) {
  const std::string version = argc == 5 ? argv[4] : "v1alpha";
  if ((argc != 4 && argc != 5) || (version != "v1alpha" && version != "v1")) {
    std::cerr << "usage: reflection_client ADDR SERVICE METHOD [v1alpha|v1]\n";
    return 2;
  }
  if (version == "v1") {
    namespace r = grpc::reflection::v1;
    return Discover<r::ServerReflection, r::ServerReflectionRequest,
                    r::ServerReflectionResponse>(argv[1], argv[2], argv[3]);
  }
  namespace r = grpc::reflection::v1alpha;
  return Discover<r::ServerReflection, r::ServerReflectionRequest,
                  r::ServerReflectionResponse>(argv[1], argv[2], argv[3]);
}
