// GgufWriter: builds GGUF (v2/v3 layout) files in memory for tests: metadata, tensors, alignment.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/model/ggml_types.h"
#include "engine/model/gguf_file.h"

namespace xq::test {

class GgufWriter {
 public:
  // Setting a key again replaces its value but keeps its first position.
  void SetU8(const std::string& key, uint8_t v);
  void SetI8(const std::string& key, int8_t v);
  void SetU16(const std::string& key, uint16_t v);
  void SetI16(const std::string& key, int16_t v);
  void SetU32(const std::string& key, uint32_t v);
  void SetI32(const std::string& key, int32_t v);
  void SetU64(const std::string& key, uint64_t v);
  void SetI64(const std::string& key, int64_t v);
  void SetF32(const std::string& key, float v);
  void SetF64(const std::string& key, double v);
  void SetBool(const std::string& key, bool v);
  void SetString(const std::string& key, const std::string& v);
  void SetStringArray(const std::string& key, const std::vector<std::string>& v);
  void SetI32Array(const std::string& key, const std::vector<int32_t>& v);
  void SetU32Array(const std::string& key, const std::vector<uint32_t>& v);
  void SetI64Array(const std::string& key, const std::vector<int64_t>& v);
  void SetF32Array(const std::string& key, const std::vector<float>& v);
  void SetBoolArray(const std::string& key, const std::vector<bool>& v);
  void Remove(const std::string& key);

  // dims in GGML order (dims[0] contiguous). Throws std::invalid_argument when data's size does
  // not match dims and type, or the name is taken.
  void AddTensor(const std::string& name, const std::vector<int64_t>& dims, GgmlType type,
                 std::vector<uint8_t> data);
  void AddF32Tensor(const std::string& name, const std::vector<int64_t>& dims,
                    const std::vector<float>& values);
  // Encodes values as type (F32, F16, BF16, Q8_0, Q4_0, Q4_1) with the reference quantizers.
  void AddQuantizedTensor(const std::string& name, const std::vector<int64_t>& dims, GgmlType type,
                          const std::vector<float>& values);

  // The file's bytes. An alignment other than 32 is recorded as general.alignment (u32) unless that
  // key was set explicitly. version only changes the header field (v2 and v3 are laid out alike).
  std::vector<uint8_t> Serialize(uint32_t version = 3, uint32_t alignment = 32) const;
  void Write(const std::filesystem::path& path, uint32_t version = 3,
             uint32_t alignment = 32) const;

 private:
  struct Entry {
    std::string key;
    GgufType type;
    std::vector<uint8_t>
        payload;  // value encoding after the type id (arrays: elem type, count, ..)
  };
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::vector<uint8_t> data;
  };
  void Set(const std::string& key, GgufType type, std::vector<uint8_t> payload);

  std::vector<Entry> entries_;
  std::vector<Tensor> tensors_;
};

}  // namespace xq::test
