// InferenceService: xquant.v1.Inference over the engine on gRPC's synchronous API (one thread per
// open call): checks the API key, translates through server/core, streams engine updates back and
// maps failures to status codes. A cancelled call or a passed deadline cancels its engine stream.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "server/core/api_error.h"
#include "server/core/metrics.h"
#include "server/core/server_config.h"
#include "server/core/serving_state.h"
#include "server/grpc/grpc_server.h"
#include "xquant/v1/inference.grpc.pb.h"

namespace xq {

class InferenceService final : public xquant::v1::Inference::Service, public ServingState {
 public:
  InferenceService(const ServerConfig& config, ServerMetrics* metrics)
      : ServingState(static_cast<int>(config.retry_after_s)), config_(config), metrics_(metrics) {}

  grpc::Status Generate(grpc::ServerContext* context, const xquant::v1::GenerateRequest* request,
                        grpc::ServerWriter<xquant::v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const xquant::v1::TokenizeRequest* request,
                        xquant::v1::TokenizeResponse* response) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const xquant::v1::GetModelInfoRequest* request,
                            xquant::v1::ModelInfo* response) override;

 private:
  struct CallLog;

  // Runs a handler: API key, then exceptions to status codes, then the access-log line.
  template <class F>
  grpc::Status Guarded(grpc::ServerContext* context, const char* method, F&& handler);
  void CheckApiKey(const grpc::ServerContext& context) const;
  grpc::Status StreamGeneration(grpc::ServerContext* context,
                                const xquant::v1::GenerateRequest& request,
                                grpc::ServerWriter<xquant::v1::GenerateResponse>* writer,
                                CallLog& log);

  const ServerConfig config_;
  ServerMetrics* metrics_;
};

}  // namespace xq
