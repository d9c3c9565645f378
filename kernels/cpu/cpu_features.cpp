#include "kernels/cpu/cpu_features.h"

namespace xq {

const CpuFeatures& DetectedCpuFeatures() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
    f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
    return f;
  }();
  return features;
}

KernelPathCounts& XqAttentionPaths() {
  static KernelPathCounts counts;
  return counts;
}

KernelPathCounts& XqQuantizePaths() {
  static KernelPathCounts counts;
  return counts;
}

KernelPathCounts& QGemmPaths() {
  static KernelPathCounts counts;
  return counts;
}

KernelPathCounts& QuantizeActivationsPaths() {
  static KernelPathCounts counts;
  return counts;
}

}  // namespace xq
