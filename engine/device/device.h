// Which backend runs the forward pass (--device cpu|cuda|auto) and the runner for it. The CUDA
// runner exists only in binaries built with nvcc (XQ_ENABLE_CUDA); asking one without it, or a
// machine without a usable GPU, for cuda is an error that says which.
#pragma once

#include <memory>
#include <string>

#include "engine/model/model_loader.h"
#include "engine/model/model_weights.h"
#include "engine/runner/model_runner.h"

namespace xq {

enum class Device { kCpu, kCuda };

bool BuiltWithCuda();

// "cpu", "cuda" or "auto" (cuda when this binary has CUDA and a GPU is usable, else cpu).
// Throws xq::Error naming `flag` for an unknown name or an unusable cuda.
Device ResolveDevice(const std::string& requested, const std::string& flag = "--device");

std::string DeviceName(Device device);

// The CUDA device's memory now (total, free); throws xq::Error for the CPU or without CUDA.
struct DeviceMemory {
  int64_t total = 0, free = 0;
};
DeviceMemory QueryDeviceMemory(Device device);

// The device's runner for `model` (which must outlive it); logs the device, its memory and
// what the weights take on it.
// Readies a loaded model for the runner of `device`: on the CPU its quantized matrices are
// packed once for the matmul kernels (PackForCpuKernels). Call before MakeModelRunner.
void PrepareModelForDevice(Model& model, Device device);

// How to load a model every runner of which is on `device`: a CUDA runner multiplies Q5 matrices
// in the file's blocks, the CPU's take them transcoded to Q8_0 (K-quants stay as they are on both).
LoadOptions LoadOptionsFor(Device device);

// Runner settings beyond the device (--enforce-eager turns the CUDA runner's graphs off).
struct RunnerOptions {
  bool cuda_graphs = true;
  // cuda: prefill attention on tensor cores (bench --cuda-core-prefill turns it off, to measure
  // what they save).
  bool tensor_core_prefill = true;
  // cuda: GGUF Q4_0 / Q4_1 / Q8_0 matrices stay in their blocks (bench --fp16-weights turns
  // them into fp16, to measure what that costs).
  bool keep_quantized_weights = true;
};

std::unique_ptr<ModelRunner> MakeModelRunner(const Model& model, Device device,
                                             RunnerOptions options = {});

}  // namespace xq
