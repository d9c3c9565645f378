// Round-to-nearest encoders into GGML's K-quant super-blocks (Q4_K, Q5_K, Q6_K: 256 values each),
// for test models whose matrices a GGUF would hold in K-quants. The block layout is ggml's
// (engine/model/dequantize.cpp decodes it); the scales are plain min/max ones, not the searched
// scales of ggml's quantize_row_q*_K_ref, so values differ from llama.cpp's files but decode
// within a quantization step.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/ggml_types.h"

namespace xq::test {

// n a multiple of 256; returns n / 256 blocks of `type` (kQ4_K, kQ5_K or kQ6_K). Throws
// std::invalid_argument otherwise.
std::vector<uint8_t> EncodeKQuantRow(GgmlType type, const float* x, int64_t n);

}  // namespace xq::test
