// gRPC's protobuf (de)serialization for our request messages, with one change: a request whose
// bytes do not parse is INVALID_ARGUMENT naming the message type, where gRPC's default answers
// INTERNAL with no detail (a client's mistake reported as a server fault). The generated code
// parses unary requests as MessageLite and streaming ones as their own type, so those two are
// specialized. The specializations are explicit, so every translation unit that serializes
// messages must see them first: CMake force-includes this header into the generated code and
// everything linking it.
#pragma once

#include <grpcpp/impl/codegen/proto_utils.h>

#include <string>

#include "xquant/v1/inference.pb.h"

namespace xq::grpc_parse {

template <class T>
class RequestTraits {
 public:
  static grpc::Status Serialize(const grpc::protobuf::MessageLite& msg, grpc::ByteBuffer* bb,
                                bool* own_buffer) {
    return grpc::GenericSerialize<grpc::ProtoBufferWriter, T>(msg, bb, own_buffer);
  }
  static grpc::Status Deserialize(grpc::ByteBuffer* buffer, grpc::protobuf::MessageLite* msg) {
    grpc::Status status = grpc::GenericDeserialize<grpc::ProtoBufferReader, T>(buffer, msg);
    if (status.ok()) return status;
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the request is not a valid " + msg->GetTypeName() +
                            " protobuf message");
  }
};

}  // namespace xq::grpc_parse

namespace grpc {

template <>
class SerializationTraits<xquant::v1::GenerateRequest, void>
    : public xq::grpc_parse::RequestTraits<xquant::v1::GenerateRequest> {};
template <>
class SerializationTraits<grpc::protobuf::MessageLite, void>
    : public xq::grpc_parse::RequestTraits<grpc::protobuf::MessageLite> {};

}  // namespace grpc
