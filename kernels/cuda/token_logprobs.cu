#include "kernels/cuda/ops.h"
#include "kernels/cuda/token_logprobs.cuh"

namespace xq::cuda {

void LaunchTokenLogprobs(const float* logits, int64_t vocab, const int64_t* rows, const float* raw,
                         const int32_t* raw_slots, const RowSampling* params, const int32_t* tokens,
                         int64_t count, RowLogprobs* out, cudaStream_t stream) {
  if (count <= 0) return;
  constexpr unsigned kThreads = 256;
  XQ_LAUNCH(TokenLogprobsKernel, static_cast<unsigned>(count), kThreads, kTokenLogprobsSharedBytes,
            stream, logits, vocab, rows, raw, raw_slots, params, tokens, out);
}

}  // namespace xq::cuda
