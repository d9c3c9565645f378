// SafetensorsFile: a memory-mapped .safetensors file with its validated tensor index, plus the
// writer for the same format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/model/model_weights.h"

namespace xq {

enum class SafetensorsDtype {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
  kF8E4M3,
  kF8E5M2
};

const char* SafetensorsDtypeName(SafetensorsDtype dtype);
size_t SafetensorsDtypeSize(SafetensorsDtype dtype);

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section (after the header)
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // Maps the file and validates the header: length within the file, JSON shape, known dtypes,
  // offsets inside the data section, sizes equal to prod(shape) * dtype size, no overlaps.
  // Throws xq::Error naming the file, the tensor and the field.
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const SafetensorsTensorInfo* Find(const std::string& name) const;  // nullptr when absent
  std::span<const uint8_t> Bytes(const SafetensorsTensorInfo& info) const;

  // F32, F16 and BF16 tensors converted to fp32; other dtypes throw naming the tensor.
  Tensor ReadTensor(const std::string& name) const;

 private:
  void Unmap();

  std::filesystem::path path_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;               // start of the data section
  std::vector<SafetensorsTensorInfo> tensors_;  // header order
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes fp32 tensors as `dtype` (F32, F16 or BF16; round to nearest even) in the given order.
void WriteSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                      SafetensorsDtype dtype,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace xq
