// Logprobs on the device, for rows sampled there whose request asked for them: the chosen
// token's log_softmax(row / temperature), its rank and the top_logprobs most likely tokens
// (kernels/include/row_logprobs.h), as the CPU's ComputeTokenLogprobs computes them, so a
// RowLogprobs crosses to the host instead of the row. One CUDA block per row; the alternatives
// are found one per pass (the largest SamplingOrderKey below the previous one), at most 20.
#pragma once

#include <cstdint>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/first_maximum.cuh"
#include "kernels/include/row_logprobs.h"
#include "kernels/include/row_sampling.h"

namespace xq::cuda {

// The CPU's ExpShifted treats exp below this as 0 (engine/sampling/fast_exp.h, kExpFloor).
inline constexpr float kLogprobExpFloor = -87.0f;

// Shared memory TokenLogprobsKernel needs.
inline constexpr unsigned kTokenLogprobsSharedBytes = kWarpSize * sizeof(double) >
                                                              kFirstMaximumSharedBytes
                                                          ? kWarpSize * sizeof(double)
                                                          : kFirstMaximumSharedBytes;

// grid = sampled rows, block = a multiple of 32 threads (at most 1024), shared memory =
// kTokenLogprobsSharedBytes. Entries whose params[b].top_logprobs < 0 are skipped.
//   logits: [*, vocab], entry b's row rows[b]; raw: [*, vocab], entry b's row before its edits
//   at raw_slots[b] when params[b].raw_logprobs and raw_slots[b] >= 0 (-1: the row had no
//   edits, so rows[b] is its raw row); tokens: [n] the sampled tokens; out: [n]
__global__ void TokenLogprobsKernel(const float* logits, int64_t vocab, const int64_t* rows,
                                    const float* raw, const int32_t* raw_slots,
                                    const RowSampling* params, const int32_t* tokens,
                                    RowLogprobs* out) {
  XQ_SHARED(unsigned char, shared);
  const RowSampling s = params[blockIdx.x];
  if (s.top_logprobs < 0) return;
  const int32_t slot = s.raw_logprobs ? raw_slots[blockIdx.x] : -1;
  const float* row =
      slot >= 0 ? raw + static_cast<int64_t>(slot) * vocab : logits + rows[blockIdx.x] * vocab;
  const float inv_t = 1.0f / (s.raw_logprobs ? 1.0f : s.logprobs_temperature);
  const float max_logit = row[BlockFirstMaximum(row, vocab, shared)];
  const int32_t token = tokens[blockIdx.x];
  const float chosen = row[token];
  double sum = 0.0, above = 0.0;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    const float y = (x - max_logit) * inv_t;
    sum += y > kLogprobExpFloor ? expf(y) : 0.0f;
    above += x > chosen ? 1.0 : 0.0;
  }
  double* scratch = reinterpret_cast<double*>(shared);
  sum = BlockReduce(sum, AddOp{}, 0.0, scratch);
  above = BlockReduce(above, AddOp{}, 0.0, scratch);
  const float log_z = static_cast<float>(log(sum));
  RowLogprobs& o = out[blockIdx.x];
  if (threadIdx.x == 0) {
    o.logprob = (chosen - max_logit) * inv_t - log_z;
    o.rank = 1 + static_cast<int32_t>(above);
  }
  const int32_t id_bits = IdBits(vocab);
  const int64_t n = s.top_logprobs < vocab ? s.top_logprobs : vocab;
  uint64_t below = ~uint64_t{0};  // the next alternative's key is under the last one's
  int32_t count = 0;
  for (; count < n && count < kMaxRowTopLogprobs; ++count) {
    unsigned long long best = 0;  // keys are > 0, so 0 is "none"
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
      const float x = row[i];
      const uint64_t key = x == x ? SamplingOrderKey(x, i, vocab, id_bits) : 0;  // NaN: never
      if (key < below && key > best) best = key;
    }
    best = BlockReduce(best, MaxOp{}, 0ull, reinterpret_cast<unsigned long long*>(scratch));
    if (best == 0) break;
    below = best;
    const int64_t id = vocab - 1 - static_cast<int64_t>(best & ((uint64_t{1} << id_bits) - 1));
    if (threadIdx.x == 0) {
      o.top_tokens[count] = static_cast<int32_t>(id);
      o.top_logprobs[count] = (row[id] - max_logit) * inv_t - log_z;
    }
  }
  if (threadIdx.x == 0) o.top_count = count;
}

}  // namespace xq::cuda
