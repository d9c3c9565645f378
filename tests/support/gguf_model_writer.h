// Writes an in-memory Model as a GGUF file the way llama.cpp's converter does (metadata keys,
// tensor names, Q/K rows permuted for llama/mistral), for loader and forward-pass tests.
#pragma once

#include <filesystem>

#include "engine/model/ggml_types.h"
#include "engine/model/model_weights.h"
#include "tests/support/gguf_writer.h"

namespace xq::test {

// Fills `w` with the model; matrices are stored as `matrix_type` (F32, F16, BF16, Q8_0, Q4_0,
// Q4_1), norms and biases as F32. Tests may then corrupt `w` before writing it.
void AddModelToGguf(const Model& model, GgufWriter& w, GgmlType matrix_type = GgmlType::kF32);

void WriteGgufModel(const Model& model, const std::filesystem::path& path,
                    GgmlType matrix_type = GgmlType::kF32);

}  // namespace xq::test
