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
#include "server/grpc/grpc_server.h"
#include "xquant/v1/inference.grpc.pb.h"

namespace xq {

class InferenceService final : public xquant::v1::Inference::Service {
 public:
  InferenceService(const ServerConfig& config, ServerMetrics* metrics)
      : config_(config), metrics_(metrics) {}

  void SetReady(GrpcModel model);
  void SetDraining() { state_.store(State::kDraining); }
  bool WaitGenerationsDone(std::chrono::milliseconds timeout) const;

  grpc::Status Generate(grpc::ServerContext* context, const xquant::v1::GenerateRequest* request,
                        grpc::ServerWriter<xquant::v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const xquant::v1::TokenizeRequest* request,
                        xquant::v1::TokenizeResponse* response) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const xquant::v1::GetModelInfoRequest* request,
                            xquant::v1::ModelInfo* response) override;

 private:
  enum class State { kLoading, kReady, kDraining };
  struct CallLog;

  // Runs a handler: API key, then exceptions to status codes, then the access-log line.
  template <class F>
  grpc::Status Guarded(grpc::ServerContext* context, const char* method, F&& handler);
  void CheckApiKey(const grpc::ServerContext& context) const;
  // The model, or a 503 (UNAVAILABLE) while loading or shutting down.
  const GrpcModel& RequireModel() const;
  grpc::Status StreamGeneration(grpc::ServerContext* context,
                                const xquant::v1::GenerateRequest& request,
                                grpc::ServerWriter<xquant::v1::GenerateResponse>* writer,
                                CallLog& log);

  const ServerConfig config_;
  ServerMetrics* metrics_;
  std::atomic<State> state_{State::kLoading};
  GrpcModel model_;  // written once, before state_ becomes kReady
  std::atomic<int> active_generations_{0};
};

// The gRPC status an ApiError's HTTP status stands for (400 -> INVALID_ARGUMENT, 401 ->
// UNAUTHENTICATED, 429 -> RESOURCE_EXHAUSTED, 503 -> UNAVAILABLE, ...).
grpc::StatusCode GrpcCode(int http_status);

}  // namespace xq
