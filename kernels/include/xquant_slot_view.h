// One of K or V of one layer as attention kernels read it from blocks (xquant_format.h), shared by
// the CPU and CUDA attention so that both resolve sharing, groups and param sizes the same way.
#pragma once

#include <cstdint>

#include "kernels/include/device_safe.h"
#include "kernels/include/xquant_format.h"

namespace xq {

struct KvSlotView {
  int bits = kFp16Bits;
  int64_t codes = -1;   // byte offset in a block (raw fp16 [H][G][D] for a 16-bit slot)
  int64_t params = -1;  // byte offset of the {s, z} params; -1 for a 16-bit slot
  int param_bits = kFp16Bits;
  int64_t group_tokens = 0;    // keys: tokens per group
  int64_t group_channels = 0;  // values: channels per group
  int64_t head_params = 0;     // bytes of one head's params
};

// A sharing slot points at the codes of the layer below and at its own params.
XQ_HOST_DEVICE inline KvSlotView SlotViewOf(const KvBlockLayout& L, int64_t layer, bool key) {
  const KvSlotSpec& spec = key ? L.layers[layer].k : L.layers[layer].v;
  const KvLayerOffsets& own = L.offsets[layer];
  const KvLayerOffsets& coder = spec.shares_codes ? L.offsets[layer - 1] : own;
  KvSlotView v;
  v.bits = spec.bits;
  v.codes = key ? coder.k_codes : coder.v_codes;
  v.params = key ? own.k_params : own.v_params;
  v.param_bits = spec.param_bits;
  v.group_tokens = key ? L.KeyGroupTokens(spec) : 0;
  v.group_channels = key ? 0 : L.ValueGroupChannels(spec);
  v.head_params = spec.bits == kFp16Bits ? 0 : L.ParamHeadBytes(spec, key);
  return v;
}

}  // namespace xq
