// GrpcServer: the gRPC frontend: xquant.v1.Inference, the standard grpc.health.v1 service and
// server reflection on one port. Listens before the model is loaded (health NOT_SERVING until
// then). gRPC's headers stay out of this one so including it costs nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/core/metrics.h"
#include "server/core/prompt_builder.h"
#include "server/core/server_config.h"
#include "server/core/serving_state.h"

namespace xq {

class GrpcServer {
 public:
  // metrics (shared with the HTTP frontend) must outlive the server.
  GrpcServer(ServerConfig config, ServerMetrics* metrics);
  ~GrpcServer();  // stops
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Binds config.host:config.grpc_port and serves on gRPC's threads. Returns the bound port;
  // throws xq::Error naming grpc_port when binding fails.
  int Start();
  // Serves `model`; health follows its engine (server/core/health.h) until SetDraining, Stop or
  // StopWatchingEngine, one of which must come before the engine is destroyed.
  void SetReady(ServingModel model);
  void StopWatchingEngine();
  // Health turns NOT_SERVING and new generations get UNAVAILABLE.
  void SetDraining();
  // Waits until no Generate stream is being written, at most `timeout`; true when none is.
  bool WaitGenerationsDone(std::chrono::milliseconds timeout) const;
  // Stops accepting calls; calls still open after `grace` are cancelled. Then waits for them.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(1));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xq
