#include "kernels/cuda/greedy_tokens.cuh"
#include "kernels/cuda/ops.h"

namespace xq::cuda {

void LaunchGreedyTokens(const float* logits, int64_t vocab, const int64_t* rows, int64_t count,
                        int32_t* tokens, cudaStream_t stream) {
  if (count <= 0) return;
  constexpr unsigned kThreads = 256;
  XQ_LAUNCH(GreedyTokensKernel, static_cast<unsigned>(count), kThreads,
            kWarpSize * (sizeof(float) + sizeof(int32_t)), stream, logits, vocab, rows, tokens);
}

}  // namespace xq::cuda
