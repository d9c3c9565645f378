// The GGUF reader on arbitrary files: it must throw xq::Error (naming what is wrong) or give a
// model description whose tensors all lie inside the file; any other exception, a crash or a
// sanitizer report is a finding.
#include <cstdint>

#include "engine/common/error.h"
#include "engine/model/gguf_file.h"
#include "engine/model/gguf_tokenizer.h"
#include "tests/fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = xq::fuzz::WriteInputFile(data, size, ".gguf");
  try {
    xq::GgufFile file(path);
    for (const auto& [key, value] : file.metadata()) {
      (void)file.GetStringOpt(key);
      (void)file.GetIntOpt(key);
      (void)file.GetFloatOpt(key);
    }
    (void)file.FindTensor("token_embd.weight");
    // The tokenizer is read from the same metadata: its checks run on the same input.
    (void)xq::TokenizerSpecFromGguf(file);
  } catch (const xq::Error&) {
  }
  return 0;
}
