// Reads a TokenizerSpec from a GGUF file's tokenizer.ggml.* metadata.
#pragma once

#include "engine/model/gguf_file.h"
#include "engine/tokenizer/tokenizer_spec.h"

namespace xq {

TokenizerSpec TokenizerSpecFromGguf(const GgufFile& file);

}  // namespace xq
