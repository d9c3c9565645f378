// The fuzz input as a file, for readers that take a path (GGUF, safetensors): one file per
// process in /dev/shm (memory), rewritten for each input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace xq::fuzz {

inline std::filesystem::path WriteInputFile(const uint8_t* data, size_t size, const char* ext) {
  const std::filesystem::path dir =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  const auto path = dir / ("xq_fuzz_" + std::to_string(::getpid()) + ext);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) __builtin_trap();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) __builtin_trap();
  std::fclose(f);
  return path;
}

}  // namespace xq::fuzz
