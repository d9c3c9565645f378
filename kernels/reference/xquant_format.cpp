#include "kernels/include/xquant_format.h"

#include <stdexcept>
#include <string>

namespace xq {
namespace {

int64_t Align16(int64_t x) { return (x + 15) / 16 * 16; }

bool ValidBits(int bits) {
  return bits == 1 || bits == 2 || bits == 4 || bits == 8 || bits == kFp16Bits;
}

}  // namespace

KvBlockLayout MakeKvBlockLayout(int64_t num_kv_heads, int64_t head_dim, int64_t block_tokens,
                                const KvLayerSpec* layers, int64_t num_layers) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (num_layers < 1 || num_layers > kMaxKvLayers) {
    fail("block layout: " + std::to_string(num_layers) + " layers, supported are 1 to " +
         std::to_string(kMaxKvLayers));
  }
  if (num_kv_heads <= 0 || head_dim <= 0 || block_tokens <= 0)
    fail("block layout: sizes must be positive");
  if (head_dim % block_tokens != 0) {
    fail("block layout: head_dim " + std::to_string(head_dim) +
         " is not a multiple of the block size " + std::to_string(block_tokens));
  }
  KvBlockLayout L;
  L.num_layers = num_layers;
  L.num_kv_heads = num_kv_heads;
  L.head_dim = head_dim;
  L.block_tokens = block_tokens;
  for (int64_t l = 0; l < num_layers; ++l) L.layers[l] = layers[l];
  const int64_t H = num_kv_heads, D = head_dim, G = block_tokens;
  int64_t at = 0;
  for (int64_t l = 0; l < num_layers; ++l) {
    const std::string where = "layer " + std::to_string(l);
    for (int which = 0; which < 2; ++which) {
      const KvSlotSpec& s = which == 0 ? layers[l].k : layers[l].v;
      const char* name = which == 0 ? ".k" : ".v";
      if (!ValidBits(s.bits))
        fail(where + name + ".bits " + std::to_string(s.bits) + " is not 1, 2, 4, 8 or 16");
      if (s.bits != kFp16Bits && (G * s.bits) % 8 != 0)
        fail(where + name + ": block size times bits must be whole bytes");
      if (s.shares_codes) {
        if (l == 0) fail(where + name + ".shares_codes: layer 0 has no layer below");
        const KvSlotSpec& below = which == 0 ? layers[l - 1].k : layers[l - 1].v;
        if (s.bits == kFp16Bits) fail(where + name + ".shares_codes: fp16 slots have no codes");
        if (below.bits != s.bits)
          fail(where + name + ".shares_codes: bits differ from layer " + std::to_string(l - 1));
        if (below.shares_codes)
          fail(where + name + ".shares_codes: layer " + std::to_string(l - 1) + " shares too");
        if (below.rotated != s.rotated)
          fail(where + name + ".shares_codes: rotation differs from layer " +
               std::to_string(l - 1));
      }
      if (s.eta < 0.0f || s.eta >= 0.5f) fail(where + name + ".eta must be in [0, 0.5)");
      if (s.param_bits != 8 && s.param_bits != kFp16Bits)
        fail(where + name + ".param_bits " + std::to_string(s.param_bits) + " is not 8 or 16");
      if (s.group_tokens != 0 && (which == 1 || s.group_tokens < 0 || G % s.group_tokens != 0)) {
        fail(where + name + ".group_tokens " + std::to_string(s.group_tokens) +
             (which == 1 ? ": only keys have token groups"
                         : " does not divide the block size " + std::to_string(G)));
      }
      if (s.bits != kFp16Bits && (L.KeyGroupTokens(s) * s.bits) % 8 != 0)
        fail(where + name + ": group_tokens times bits must be whole bytes");
      if (s.group_channels != 0 &&
          (which == 0 || s.group_channels < 0 || D % s.group_channels != 0)) {
        fail(where + name + ".group_channels " + std::to_string(s.group_channels) +
             (which == 0 ? ": only values have channel groups"
                         : " does not divide head_dim " + std::to_string(D)));
      }
      if (s.bits != kFp16Bits && (L.ValueGroupChannels(s) * s.bits) % 8 != 0)
        fail(where + name + ": group_channels times bits must be whole bytes");
    }
    KvLayerOffsets& o = L.offsets[l];
    const KvSlotSpec &k = layers[l].k, &v = layers[l].v;
    if (k.bits == kFp16Bits) {
      o.k_codes = at;
      at = Align16(at + H * G * D * 2);
    } else {
      if (!k.shares_codes) {
        o.k_codes = at;
        at = Align16(at + H * D * L.KeyCodeBytes(k.bits));
      }
      o.k_params = at;
      at = Align16(at + H * L.ParamHeadBytes(k, true));
    }
    if (v.bits == kFp16Bits) {
      o.v_codes = at;
      at = Align16(at + H * G * D * 2);
    } else {
      if (!v.shares_codes) {
        o.v_codes = at;
        at = Align16(at + H * G * L.ValueCodeBytes(v.bits));
      }
      o.v_params = at;
      at = Align16(at + H * L.ParamHeadBytes(v, false));
    }
  }
  L.block_bytes = at;
  // Every block holds at least one fp16 row (a quantized slot's key params alone take H * D * 4
  // bytes, a 16-bit slot G rows), so a window page holds at least one row.
  L.window_rows_per_page = L.block_bytes / L.WindowRowBytes();
  const int64_t rows = 2 * num_layers * G;
  L.window_pages_per_block = (rows + L.window_rows_per_page - 1) / L.window_rows_per_page;
  return L;
}

}  // namespace xq
