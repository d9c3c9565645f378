#include "engine/device/device.h"

#include <spdlog/spdlog.h>

#include "engine/common/error.h"
#include "engine/model/cpu_kernel_weights.h"
#include "engine/runner/cpu_model_runner.h"
#if XQ_WITH_CUDA
#include "engine/runner/cuda/cuda_model_runner.h"
#endif

namespace xq {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

#if XQ_WITH_CUDA
std::unique_ptr<ModelRunner> MakeCudaRunner(const Model& model, RunnerOptions options) {
  const CudaDeviceInfo info = ProbeCudaDevice();
  spdlog::info(
      "device: cuda 0, {} ({:.1f} GiB, {:.1f} GiB free); decode steps {}; prefill attention on {}",
      info.name, info.total_bytes / kGiB, info.free_bytes / kGiB,
      options.cuda_graphs ? "as CUDA graphs" : "launched eagerly (--enforce-eager)",
      options.tensor_core_prefill ? "tensor cores" : "CUDA cores (--cuda-core-prefill)");
  CudaRunnerOptions cuda;
  cuda.graphs = options.cuda_graphs;
  cuda.tensor_core_prefill = options.tensor_core_prefill;
  cuda.keep_quantized_weights = options.keep_quantized_weights;
  auto runner = std::make_unique<CudaModelRunner>(model, cuda);
  spdlog::info(
      "weights: {:.2f} GiB on the device ({} matrices kept in their GGUF Q4_0/Q4_1/Q8_0 blocks, "
      "{} as fp16)",
      runner->weight_bytes() / kGiB, runner->quantized_matrices(), runner->fp16_matrices());
  return runner;
}
#endif

}  // namespace

bool BuiltWithCuda() { return XQ_WITH_CUDA != 0; }

Device ResolveDevice(const std::string& requested, const std::string& flag) {
  if (requested == "cpu") return Device::kCpu;
  if (requested != "cuda" && requested != "auto") {
    throw Error(flag + ": unknown device '" + requested + "' (cpu, cuda or auto)");
  }
#if XQ_WITH_CUDA
  const CudaDeviceInfo info = ProbeCudaDevice();
  if (info.available) return Device::kCuda;
  if (requested == "cuda") throw Error(flag + ": cuda: no usable GPU (" + info.why_not + ")");
  return Device::kCpu;
#else
  if (requested == "cuda") {
    throw Error(flag +
                ": cuda: this binary was built without CUDA (nvcc was not found at build "
                "time; see XQ_ENABLE_CUDA)");
  }
  return Device::kCpu;
#endif
}

std::string DeviceName(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

DeviceMemory QueryDeviceMemory(Device device) {
#if XQ_WITH_CUDA
  if (device == Device::kCuda) {
    const CudaDeviceInfo info = ProbeCudaDevice();
    if (!info.available) throw Error("cuda: " + info.why_not);
    return {info.total_bytes, info.free_bytes};
  }
#endif
  throw Error("device memory: only a CUDA device has it (device: " + DeviceName(device) + ")");
}

LoadOptions LoadOptionsFor(Device device) {
  const bool cuda = device == Device::kCuda;
  return {
      .keep_quantized = true, .keep_file_block_types = cuda, .synthetic_values_on_device = cuda};
}

void PrepareModelForDevice(Model& model, Device device) {
  if (device == Device::kCpu) PackForCpuKernels(model);
}

std::unique_ptr<ModelRunner> MakeModelRunner(const Model& model, Device device,
                                             [[maybe_unused]] RunnerOptions options) {
#if XQ_WITH_CUDA
  if (device == Device::kCuda) return MakeCudaRunner(model, options);
#endif
  if (device == Device::kCuda) throw Error("this binary was built without CUDA");
  spdlog::info("device: cpu");
  return std::make_unique<CpuModelRunner>(model);
}

}  // namespace xq
