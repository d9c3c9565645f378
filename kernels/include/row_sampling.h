// RowSampling: how one logits row is turned into a token where the logits are (the CUDA runner),
// after its LogitEdits. The host draws the row's uniform from the sequence's own generator, one
// per sampled step exactly as the CPU sampler does, so a request's seed means the same on both
// devices, and the device only does the inverse-CDF draw.
//
// (A row with a given_token is not drawn at all: it is there for its logprobs.)
//
// The draw, shared by the CPU sampler (engine/sampling/sampler.cpp), the scalar reference
// (kernels/reference/sample_row_reference.cpp) and the CUDA kernel
// (kernels/cuda/sample_tokens.cuh):
//   greedy (temperature <= 0 or top_k == 1): the first maximum;
//   otherwise, with m the largest logit and w = exp((logit - m) / temperature):
//   - top_k (0 < top_k < finite tokens): the top_k largest logits, ties to the smaller id;
//   - min_p: drop w < min_p (the largest has w = 1), and w = 0;
//   - top_p < 1: the fewest of the rest, in (w larger, id smaller) order, whose mass reaches
//     top_p times their total;
//   - the token: the first id, in increasing id order over what is kept, at which the running
//     mass exceeds uniform times the kept total (the last kept id if rounding leaves none).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/include/device_safe.h"

namespace xq {

struct RowSampling {
  float temperature = 0.0f;
  int32_t top_k = 0;  // 0: off
  float top_p = 1.0f;
  float min_p = 0.0f;
  double uniform = 0.0;  // in [0, 1); unused when greedy
  // Logprobs (row_logprobs.h): -1 none; else the chosen token's and this many alternatives',
  // from the row before its edits at temperature 1 (raw_logprobs, vLLM's and OpenAI's default)
  // or from the edited row at logprobs_temperature.
  int32_t top_logprobs = -1;
  int32_t raw_logprobs = 1;
  float logprobs_temperature = 1.0f;
  // A grammar's allowed tokens, applied before the edits: bitmask `allowed_tokens` of the batch's
  // (AllowedTokenWords(vocab) words each, bit t % 32 of word t / 32 set when token t may come
  // next); -1: every token allowed.
  int32_t allowed_tokens = -1;
  // >= 0: no draw, this is the row's token (a prompt token, scored for prompt logprobs).
  int32_t given_token = -1;
};
static_assert(sizeof(RowSampling) == 48);

// Words of one allowed-token bitmask.
XQ_HOST_DEVICE inline int64_t AllowedTokenWords(int64_t vocab) { return (vocab + 31) / 32; }

XQ_HOST_DEVICE inline bool TokenAllowed(const uint32_t* words, int64_t token) {
  return (words[token / 32] >> (token % 32)) & 1u;
}

XQ_HOST_DEVICE inline bool IsGreedy(const RowSampling& s) {
  return s.temperature <= 0.0f || s.top_k == 1;
}

// A float's bits as an unsigned integer with the same order (-inf lowest; -0 equal to +0, as
// they compare; NaN not ordered).
XQ_HOST_DEVICE inline uint32_t OrderedBits(float v) {
  if (v == 0.0f) v = 0.0f;
  uint32_t bits;
  memcpy(&bits, &v, sizeof(bits));
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Bits that number the ids of a vocabulary of `vocab` tokens.
XQ_HOST_DEVICE inline int32_t IdBits(int64_t vocab) {
  int32_t bits = 0;
  while ((int64_t{1} << bits) < vocab) ++bits;
  return bits;
}

// The truncation order as one integer: larger value first, then the smaller id; distinct for
// distinct ids, so "the n first" is "key >= the n-th key".
XQ_HOST_DEVICE inline uint64_t SamplingOrderKey(float value, int64_t id, int64_t vocab,
                                                int32_t id_bits) {
  return (static_cast<uint64_t>(OrderedBits(value)) << id_bits) |
         static_cast<uint64_t>(vocab - 1 - id);
}

// The draw above, scalar and sort-based: the truth the CPU sampler and the CUDA kernel are
// tested against (host only).
int32_t SampleRowReference(const float* logits, int64_t vocab, const RowSampling& s);

}  // namespace xq
