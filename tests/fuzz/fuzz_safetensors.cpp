// The safetensors header parser on arbitrary files: xq::Error, or tensors whose bytes lie inside
// the data section and can be read; anything else is a finding.
#include <cstdint>

#include "engine/common/error.h"
#include "engine/model/safetensors_file.h"
#include "tests/fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = xq::fuzz::WriteInputFile(data, size, ".safetensors");
  try {
    xq::SafetensorsFile file(path);
    for (const auto& info : file.tensors()) {
      const auto bytes = file.Bytes(info);
      if (bytes.size() != info.end - info.begin) __builtin_trap();
      if (bytes.size() <= 4096) (void)file.ReadTensor(info.name);
    }
  } catch (const xq::Error&) {
  }
  return 0;
}
