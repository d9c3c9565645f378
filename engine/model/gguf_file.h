// GgufFile: a memory-mapped GGUF (v2/v3) file: its metadata key/values and tensor descriptors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace xq {

// GGUF's metadata value type ids.
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType elem_type = GgufType::kU8;  // arrays only
  // Integers of every width are widened to int64 (u64 above INT64_MAX is rejected), floats to
  // double; arrays hold their elements.
  std::variant<int64_t, double, bool, std::string, std::vector<GgufValue>> value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // GGML order: dims[0] is the contiguous (fastest) dimension
  uint32_t type = 0;          // GgmlType id
  uint64_t offset = 0;        // from the start of the data section
  const uint8_t* data = nullptr;  // into the mapping
  int64_t nbytes = 0;
  int64_t num_elements() const;
};

class GgufFile {
 public:
  // Maps and parses the file; throws xq::Error naming the file and what is wrong (bad magic,
  // unsupported version, truncation, unknown type, tensor data out of bounds, ...).
  explicit GgufFile(const std::filesystem::path& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  uint32_t version() const { return version_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  const GgufValue* Find(const std::string& key) const;
  const GgufTensorInfo* FindTensor(const std::string& name) const;

  // Typed accessors: throw xq::Error naming the file and key when the key is missing or has
  // another type. The *Or variants return the fallback when the key is absent.
  std::string GetString(const std::string& key) const;
  int64_t GetInt(const std::string& key) const;
  double GetFloat(const std::string& key) const;  // accepts integer values too
  bool GetBool(const std::string& key) const;
  std::vector<std::string> GetStringArray(const std::string& key) const;
  std::vector<int64_t> GetIntArray(const std::string& key) const;
  std::vector<double> GetFloatArray(const std::string& key) const;
  std::optional<std::string> GetStringOpt(const std::string& key) const;
  std::optional<int64_t> GetIntOpt(const std::string& key) const;
  std::optional<double> GetFloatOpt(const std::string& key) const;
  std::optional<bool> GetBoolOpt(const std::string& key) const;

 private:
  std::filesystem::path path_;
  uint32_t version_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
};

}  // namespace xq
