// AVX2 + FMA + F16C pieces of XQuant attention, for CPUs without AVX-512; same contract as
// xquant_attention_avx512.h (see xq_attn::Kernels).
#pragma once

#include "kernels/cpu/xquant_attention_work.h"

namespace xq::xq_avx2 {

using xq_attn::AttnCtx;
using xq_attn::Item;
using xq_attn::ItemSpans;
using xq_attn::GroupsOf16;
using xq_attn::ParamReader;
using xq_attn::SpansOf;
using xq_attn::WindowRun;
using xq_attn::WindowRunAt;

// True when these kernels handle the shape (head_dim a multiple of 16 up to 256, G and key and
// value groups multiples of 16).
bool Supports(const KvBlockLayout& layout);
void Scores(const AttnCtx& c, const Item& it, float* scores);
void Softmax(float* row, int64_t n);
void Values(const AttnCtx& c, const Item& it, const float* weights, float* partial);

}  // namespace xq::xq_avx2
