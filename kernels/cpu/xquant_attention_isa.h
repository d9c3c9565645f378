// Which instruction set XqAttention (kernels/include/xquant_kernels.h) runs on: detected from the
// CPU, or forced so that tests cover every path a machine can run.
#pragma once

namespace xq {

enum class XqAttentionIsa { kAuto, kAvx512, kAvx2, kScalar };

// Makes later XqAttention calls use `isa` (kAuto: the best this CPU has). Returns false and
// changes nothing when this CPU cannot run it. Not meant to change while calls are in flight.
bool ForceXqAttentionIsa(XqAttentionIsa isa);

// The instruction set XqAttention uses now for shapes it supports (never kAuto).
XqAttentionIsa ActiveXqAttentionIsa();

}  // namespace xq
