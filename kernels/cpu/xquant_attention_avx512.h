// AVX-512 pieces of XQuant attention over one (query, KV head, position range) work item; the
// driver in xquant_attention.cpp splits the work, checks the CPU, and runs the phases in order.
#pragma once

#include "kernels/cpu/xquant_attention_work.h"

namespace xq::xq_avx512 {

using xq_attn::AttnCtx;
using xq_attn::Item;
using xq_attn::ItemSpans;
using xq_attn::GroupsOf16;
using xq_attn::ParamReader;
using xq_attn::SpansOf;
using xq_attn::WindowRun;
using xq_attn::WindowRunAt;

// True when these kernels handle the shape (head_dim 32, 64 or 128; G 16, 32 or 64; key and
// value groups multiples of 16).
bool Supports(const KvBlockLayout& layout);
void Scores(const AttnCtx& c, const Item& it, float* scores);
void Softmax(float* row, int64_t n);
void Values(const AttnCtx& c, const Item& it, const float* weights, float* partial);

}  // namespace xq::xq_avx512
