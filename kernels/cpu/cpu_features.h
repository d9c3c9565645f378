// What this CPU can run, detected once, and which path each CPU kernel took: the one feature
// detector of the CPU kernels, and the counters tests read to prove a fast path really ran.
#pragma once

#include <atomic>
#include <cstdint>

namespace xq {

struct CpuFeatures {
  bool avx2 = false;    // with FMA, F16C and BMI2 (what our AVX2 kernels use)
  bool avx512 = false;  // F, BW, DQ and VL on top of avx2
  bool avx512_vnni = false;  // VNNI (vpdpbusd) on top of avx512
};

const CpuFeatures& DetectedCpuFeatures();

enum class KernelPath { kReference, kAvx2, kAvx512 };

// Calls of one kernel that took each path (relaxed counters: one increment per call).
struct KernelPathCounts {
  std::atomic<int64_t> reference{0}, avx2{0}, avx512{0};

  void Count(KernelPath path) {
    (path == KernelPath::kAvx512 ? avx512
     : path == KernelPath::kAvx2 ? avx2
                                 : reference)
        .fetch_add(1, std::memory_order_relaxed);
  }
  int64_t Of(KernelPath path) const {
    return (path == KernelPath::kAvx512 ? avx512
            : path == KernelPath::kAvx2 ? avx2
                                        : reference)
        .load(std::memory_order_relaxed);
  }
};

KernelPathCounts& XqAttentionPaths();
KernelPathCounts& XqQuantizePaths();
KernelPathCounts& QGemmPaths();
KernelPathCounts& QuantizeActivationsPaths();

}  // namespace xq
