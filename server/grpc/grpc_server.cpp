#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <limits>

#include "engine/common/error.h"
#include "engine/kv/kv_budget.h"
#include "server/core/health.h"
#include "server/core/health_watcher.h"
#include "server/grpc/inference_service.h"

namespace xq {

struct GrpcServer::Impl {
  Impl(ServerConfig c, ServerMetrics* metrics) : config(std::move(c)), service(config, metrics) {}

  void SetServing(bool serving) {
    if (!server) return;
    grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
    if (!health) return;
    health->SetServingStatus(xquant::v1::Inference::service_full_name(), serving);
    health->SetServingStatus(serving);  // "" (the whole server) and the one above
  }

  ServerConfig config;
  InferenceService service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<HealthWatcher> watcher;  // while ready: health follows the engine
  bool stopped = false;
};

GrpcServer::GrpcServer(ServerConfig config, ServerMetrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(config), metrics)) {}

GrpcServer::~GrpcServer() { Stop(std::chrono::milliseconds(0)); }

int GrpcServer::Start() {
  const ServerConfig& c = impl_->config;
  // Both are process-wide switches read when a builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const std::string host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
  const std::string address = host + ":" + std::to_string(c.grpc_port);
  grpc::ServerBuilder builder;
  int port = 0;
  // gRPC sets SO_REUSEPORT by default: a second server on the port would start and share it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&impl_->service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(
      ParseByteSize(c.max_body_size, "max_body_size"), std::numeric_limits<int>::max())));
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0) {
    impl_->server.reset();
    throw Error("grpc_port: cannot bind " + address +
                ": address in use, or not an address of this machine");
  }
  impl_->SetServing(false);  // until the model is loaded
  return port;
}

void GrpcServer::SetReady(ServingModel model) {
  Engine* engine = model.engine;
  impl_->service.SetReady(std::move(model));
  // SERVING before this returns (as /health turns 200), then following the engine.
  const EngineStats stats = engine->Stats();
  impl_->SetServing(CheckHealth(ServerState::kReady, &stats).status == 200);
  impl_->watcher = std::make_unique<HealthWatcher>([engine] { return engine->Stats(); },
                                                   [this](bool s) { impl_->SetServing(s); });
}

void GrpcServer::StopWatchingEngine() { impl_->watcher.reset(); }

void GrpcServer::SetDraining() {
  StopWatchingEngine();
  impl_->service.SetDraining();
  impl_->SetServing(false);
}

bool GrpcServer::WaitGenerationsDone(std::chrono::milliseconds timeout) const {
  return impl_->service.WaitGenerationsDone(timeout);
}

void GrpcServer::Stop(std::chrono::milliseconds grace) {
  StopWatchingEngine();
  if (!impl_->server || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
}

}  // namespace xq
