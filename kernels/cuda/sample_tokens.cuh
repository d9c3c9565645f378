// Sampling on the device: each listed logits row (already edited, logit_edits.cuh) becomes one
// token by the draw kernels/include/row_sampling.h defines, so only that token crosses to the
// host. One CUDA block per row. Truncation is found without sorting: top_k and top_p each keep
// the tokens whose SamplingOrderKey is at least a threshold, and the threshold is found bit by
// bit (a block-wide count or mass per bit, stopping once one key is left in doubt: about
// log2(vocab) + a few passes over the row, each truncation only when asked for). The draw is a
// block-wide scan in id order.
#pragma once

#include <cstdint>

#include "kernels/cuda/block_reduce.cuh"
#include "kernels/cuda/cuda_compat.h"
#include "kernels/cuda/first_maximum.cuh"
#include "kernels/include/row_sampling.h"

namespace xq::cuda {

// One row and what its truncations kept so far.
struct SampledRow {
  const float* logits;
  int64_t vocab;
  int32_t id_bits;
  float max_logit;
  float inv_temperature;
  float min_p;
  uint64_t top_k_floor = 0;  // kept: SamplingOrderKey(logit) >= this
  uint64_t top_p_floor = 0;  // kept: SamplingOrderKey(weight) >= this

  __device__ float Weight(float x) const {
    return x > -__builtin_huge_valf() ? expf((x - max_logit) * inv_temperature) : 0.0f;
  }
  __device__ uint64_t Key(float value, int64_t i) const {
    return SamplingOrderKey(value, i, vocab, id_bits);
  }
  // Token i's weight if top_k and min_p keep it, else 0.
  __device__ float KeptWeight(int64_t i) const {
    const float x = logits[i];
    const float w = Weight(x);
    return w > 0.0f && w >= min_p && Key(x, i) >= top_k_floor ? w : 0.0f;
  }
  // Token i's weight if every truncation keeps it, else 0.
  __device__ float FinalWeight(int64_t i) const {
    const float w = KeptWeight(i);
    return w > 0.0f && Key(w, i) >= top_p_floor ? w : 0.0f;
  }
};

// What one pass of the threshold search measures over a row's population (the finite tokens for
// top_k, the kept ones for top_p): `measure`, the count or mass of keys >= the candidate, and
// `in_range`, how many keys lie in [lo, hi).
struct ThresholdPass {
  double measure;
  double in_range;
};

// The largest c < 2^bits with f(c).measure >= target (target > 0), for f non-increasing in c and
// the same on every thread (block reductions); 0 when none. Bit by bit from the top, keeping
// f(c) >= target > f(hi); once at most one key lies in [c, hi), {key >= c} is the answer's set,
// so the search stops there: distinct logits separate within about log2(vocab) value bits, not
// all 32 + log2(vocab).
template <typename F>
__device__ __forceinline__ uint64_t LargestThreshold(int32_t bits, double target, F f) {
  uint64_t c = 0;
  for (int32_t bit = bits - 1; bit >= 0; --bit) {
    const uint64_t candidate = c | (uint64_t{1} << bit);
    const uint64_t hi = bit == 63 ? ~uint64_t{0} : c + (uint64_t{2} << bit);
    const ThresholdPass pass = f(candidate, c, hi);
    if (pass.in_range <= 1.0) break;
    if (pass.measure >= target) c = candidate;
  }
  return c;
}

struct TopKCount {
  const SampledRow* row;
  double* scratch;
  __device__ ThresholdPass operator()(uint64_t floor, uint64_t lo, uint64_t hi) const {
    double n = 0.0, in_range = 0.0;
    for (int64_t i = threadIdx.x; i < row->vocab; i += blockDim.x) {
      const float x = row->logits[i];
      if (!(x > -__builtin_huge_valf())) continue;
      const uint64_t key = row->Key(x, i);
      n += key >= floor ? 1.0 : 0.0;
      in_range += key >= lo && key < hi ? 1.0 : 0.0;
    }
    return {BlockReduce(n, AddOp{}, 0.0, scratch), BlockReduce(in_range, AddOp{}, 0.0, scratch)};
  }
};

struct TopPMass {
  const SampledRow* row;
  double* scratch;
  __device__ ThresholdPass operator()(uint64_t floor, uint64_t lo, uint64_t hi) const {
    double mass = 0.0, in_range = 0.0;
    for (int64_t i = threadIdx.x; i < row->vocab; i += blockDim.x) {
      const float w = row->KeptWeight(i);
      if (!(w > 0.0f)) continue;
      const uint64_t key = row->Key(w, i);
      mass += key >= floor ? w : 0.0;
      in_range += key >= lo && key < hi ? 1.0 : 0.0;
    }
    return {BlockReduce(mass, AddOp{}, 0.0, scratch), BlockReduce(in_range, AddOp{}, 0.0, scratch)};
  }
};

// Shared memory for the block reductions (BlockReduce of doubles, BlockFirstMaximum).
inline constexpr unsigned kSampleReduceBytes = kWarpSize * sizeof(double) > kFirstMaximumSharedBytes
                                                   ? kWarpSize * sizeof(double)
                                                   : kFirstMaximumSharedBytes;

// Shared memory SampleTokensKernel needs at blockDim.x = threads: the reductions', then each
// thread's chunk mass and last kept id.
inline constexpr unsigned SampleTokensSharedBytes(unsigned threads) {
  return kSampleReduceBytes + threads * (sizeof(double) + sizeof(int32_t));
}

// Thread 0 draws: finds the chunk where the running mass passes uniform * total, then the token
// in it. mass[t] / last[t]: thread t's chunk's kept mass and last kept id (-1: none).
__device__ __forceinline__ int32_t DrawInIdOrder(const SampledRow& row, double uniform,
                                                 int64_t chunk, const double* mass,
                                                 const int32_t* last, int32_t fallback) {
  double total = 0.0;
  int32_t last_kept = -1;
  for (unsigned t = 0; t < blockDim.x; ++t) {
    total += mass[t];
    if (last[t] >= 0) last_kept = last[t];
  }
  const double target = uniform * total;
  double before = 0.0;
  for (unsigned t = 0; t < blockDim.x; ++t) {
    if (mass[t] > 0.0 && target < before + mass[t]) {
      const int64_t begin = static_cast<int64_t>(t) * chunk;
      const int64_t end = begin + chunk < row.vocab ? begin + chunk : row.vocab;
      double cumulative = before;
      for (int64_t i = begin; i < end; ++i) {
        cumulative += row.FinalWeight(i);
        if (target < cumulative) return static_cast<int32_t>(i);
      }
      return last[t];  // rounding: the chunk's running sum fell short of its total
    }
    before += mass[t];
  }
  return last_kept >= 0 ? last_kept : fallback;
}

// grid = listed rows, block = a multiple of 32 threads (at most 1024), shared memory =
// SampleTokensSharedBytes(block).
//   logits: [*, vocab]; rows: [n] the logits row of entry b; params: [n]; tokens: [n]
__global__ void SampleTokensKernel(const float* logits, int64_t vocab, const int64_t* rows,
                                   const RowSampling* params, int32_t* tokens) {
  XQ_SHARED(unsigned char, shared);
  double* reduce = reinterpret_cast<double*>(shared);
  double* chunk_mass = reinterpret_cast<double*>(shared + kSampleReduceBytes);
  int32_t* chunk_last = reinterpret_cast<int32_t*>(chunk_mass + blockDim.x);

  const RowSampling s = params[blockIdx.x];
  if (s.given_token >= 0) {  // the same for the whole block: no barrier is skipped by some
    if (threadIdx.x == 0) tokens[blockIdx.x] = s.given_token;
    return;
  }
  const float* row_logits = logits + rows[blockIdx.x] * vocab;
  const int32_t first_max = BlockFirstMaximum(row_logits, vocab, shared);
  const float max_logit = row_logits[first_max];
  if (IsGreedy(s) || !(max_logit > -__builtin_huge_valf())) {
    if (threadIdx.x == 0) tokens[blockIdx.x] = first_max;
    return;
  }
  SampledRow row{row_logits, vocab, IdBits(vocab), max_logit, 1.0f / s.temperature, s.min_p};
  const int32_t key_bits = 32 + row.id_bits;
  if (s.top_k > 0) {
    const double finite = TopKCount{&row, reduce}(0, 0, 0).measure;
    if (s.top_k < finite) {
      row.top_k_floor = LargestThreshold(key_bits, s.top_k, TopKCount{&row, reduce});
    }
  }
  if (s.top_p < 1.0f) {
    const double total = TopPMass{&row, reduce}(0, 0, 0).measure;
    row.top_p_floor =
        LargestThreshold(key_bits, static_cast<double>(s.top_p) * total, TopPMass{&row, reduce});
  }
  const int64_t chunk = (vocab + blockDim.x - 1) / blockDim.x;
  const int64_t begin = static_cast<int64_t>(threadIdx.x) * chunk;
  double mass = 0.0;
  int32_t last = -1;
  for (int64_t i = begin; i < begin + chunk && i < vocab; ++i) {
    const float w = row.FinalWeight(i);
    if (w > 0.0f) {
      mass += w;
      last = static_cast<int32_t>(i);
    }
  }
  chunk_mass[threadIdx.x] = mass;
  chunk_last[threadIdx.x] = last;
  __syncthreads();
  if (threadIdx.x == 0) {
    tokens[blockIdx.x] = DrawInIdOrder(row, s.uniform, chunk, chunk_mass, chunk_last, first_max);
  }
}

}  // namespace xq::cuda
