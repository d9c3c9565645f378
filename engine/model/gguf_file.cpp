#include "engine/model/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "engine/common/error.h"
#include "engine/model/ggml_types.h"

namespace xq {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr int kMaxDims = 4;
constexpr uint64_t kMaxArrayDepth = 4;

// Bounds-checked little-endian reader over the mapping; every failure names the file.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& file)
      : data_(data), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <typename T>
  T Read(const char* what) {
    Need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string ReadString(const char* what) {
    uint64_t len = Read<uint64_t>(what);
    Need(len, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }

  // `count` items of at least `item_size` bytes each; checked without multiplying, which could
  // wrap around (a 2^62-element array passed the product check, then reserve() threw).
  void NeedItems(uint64_t count, uint64_t item_size, const char* what) const {
    if (item_size != 0 && count > remaining() / item_size) Need(remaining() + 1, what);
  }

  void Need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      throw Error(file_ + ": truncated file while reading " + what + " at byte " +
                  std::to_string(pos_));
    }
  }

  [[noreturn]] void Fail(const std::string& msg) const { throw Error(file_ + ": " + msg); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
};

size_t ScalarSize(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

GgufValue ReadValue(Reader& r, GgufType type, const std::string& key, uint64_t depth) {
  GgufValue out;
  out.type = type;
  switch (type) {
    case GgufType::kU8: out.value = int64_t{r.Read<uint8_t>(key.c_str())}; break;
    case GgufType::kI8: out.value = int64_t{r.Read<int8_t>(key.c_str())}; break;
    case GgufType::kU16: out.value = int64_t{r.Read<uint16_t>(key.c_str())}; break;
    case GgufType::kI16: out.value = int64_t{r.Read<int16_t>(key.c_str())}; break;
    case GgufType::kU32: out.value = int64_t{r.Read<uint32_t>(key.c_str())}; break;
    case GgufType::kI32: out.value = int64_t{r.Read<int32_t>(key.c_str())}; break;
    case GgufType::kI64: out.value = r.Read<int64_t>(key.c_str()); break;
    case GgufType::kU64: {
      uint64_t v = r.Read<uint64_t>(key.c_str());
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        r.Fail("metadata '" + key + "': u64 value too large");
      }
      out.value = static_cast<int64_t>(v);
      break;
    }
    case GgufType::kF32: out.value = double{r.Read<float>(key.c_str())}; break;
    case GgufType::kF64: out.value = r.Read<double>(key.c_str()); break;
    case GgufType::kBool: {
      uint8_t b = r.Read<uint8_t>(key.c_str());
      if (b > 1) r.Fail("metadata '" + key + "': bool value " + std::to_string(b));
      out.value = b != 0;
      break;
    }
    case GgufType::kString: out.value = r.ReadString(key.c_str()); break;
    case GgufType::kArray: {
      if (depth >= kMaxArrayDepth) r.Fail("metadata '" + key + "': arrays nested too deeply");
      auto elem = static_cast<GgufType>(r.Read<uint32_t>(key.c_str()));
      uint64_t count = r.Read<uint64_t>(key.c_str());
      size_t min_elem = elem == GgufType::kString ? 8 : elem == GgufType::kArray ? 12
                                                                                 : ScalarSize(elem);
      if (min_elem == 0) {
        r.Fail("metadata '" + key + "': unknown array element type " +
               std::to_string(static_cast<uint32_t>(elem)));
      }
      // Reject absurd counts before allocating.
      r.NeedItems(count, min_elem, key.c_str());
      out.elem_type = elem;
      std::vector<GgufValue> items;
      items.reserve(count);
      for (uint64_t i = 0; i < count; ++i) items.push_back(ReadValue(r, elem, key, depth + 1));
      out.value = std::move(items);
      break;
    }
    default:
      r.Fail("metadata '" + key + "': unknown value type " +
             std::to_string(static_cast<uint32_t>(type)));
  }
  return out;
}

const char* TypeName(GgufType t) {
  switch (t) {
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kBool: return "bool";
    case GgufType::kF32: case GgufType::kF64: return "float";
    default: return "integer";
  }
}

}  // namespace

int64_t GgufTensorInfo::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

GgufFile::GgufFile(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw Error(file + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(file + ": not a regular file");
  }
  mapping_size_ = static_cast<size_t>(st.st_size);
  if (mapping_size_ < 8) {
    ::close(fd);
    throw Error(file + ": truncated file (" + std::to_string(mapping_size_) + " bytes)");
  }
  mapping_ = ::mmap(nullptr, mapping_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    throw Error(file + ": mmap failed");
  }
  try {
    const auto* base = static_cast<const uint8_t*>(mapping_);
    Reader r(base, mapping_size_, file);
    if (r.Read<uint32_t>("magic") != kGgufMagic) r.Fail("bad magic: not a GGUF file");
    version_ = r.Read<uint32_t>("version");
    if (version_ != 2 && version_ != 3) {
      r.Fail("unsupported GGUF version " + std::to_string(version_) + " (2 and 3 are)");
    }
    uint64_t tensor_count = r.Read<uint64_t>("tensor_count");
    uint64_t kv_count = r.Read<uint64_t>("kv_count");
    r.Need(kv_count * 12, "metadata");
    for (uint64_t i = 0; i < kv_count; ++i) {
      std::string key = r.ReadString("metadata key");
      auto type = static_cast<GgufType>(r.Read<uint32_t>("metadata type"));
      GgufValue value = ReadValue(r, type, key, 0);
      if (!metadata_.emplace(key, std::move(value)).second) {
        r.Fail("duplicate metadata key '" + key + "'");
      }
    }
    uint64_t alignment = static_cast<uint64_t>(GetIntOpt("general.alignment").value_or(32));
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      r.Fail("general.alignment " + std::to_string(alignment) + " is not a power of two");
    }
    r.NeedItems(tensor_count, 24, "tensor infos");
    tensors_.reserve(tensor_count);
    for (uint64_t i = 0; i < tensor_count; ++i) {
      GgufTensorInfo t;
      t.name = r.ReadString("tensor name");
      uint32_t n_dims = r.Read<uint32_t>("tensor n_dims");
      if (n_dims == 0 || n_dims > kMaxDims) {
        r.Fail("tensor '" + t.name + "': n_dims " + std::to_string(n_dims) + " out of range");
      }
      int64_t elems = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t dim = r.Read<uint64_t>("tensor dims");
        if (dim == 0 || dim > (uint64_t{1} << 40) ||
            static_cast<uint64_t>(elems) > (uint64_t{1} << 62) / dim) {
          r.Fail("tensor '" + t.name + "': dimension " + std::to_string(dim) + " out of range");
        }
        t.dims.push_back(static_cast<int64_t>(dim));
        elems *= static_cast<int64_t>(dim);
      }
      t.type = r.Read<uint32_t>("tensor type");
      t.offset = r.Read<uint64_t>("tensor offset");
      const GgmlTypeInfo* info = FindGgmlType(t.type);
      if (!info) r.Fail("tensor '" + t.name + "': unknown tensor type " + GgmlTypeName(t.type));
      if (t.dims[0] % info->block_elems != 0) {
        r.Fail("tensor '" + t.name + "': row of " + std::to_string(t.dims[0]) +
               " elements is not a multiple of the " + info->name + " block size");
      }
      const int64_t blocks = elems / info->block_elems;
      if (blocks > std::numeric_limits<int64_t>::max() / info->block_bytes) {
        r.Fail("tensor '" + t.name + "': " + std::to_string(elems) + " elements of " +
               info->name + " are more bytes than a file can hold");
      }
      t.nbytes = blocks * info->block_bytes;
      if (t.offset % alignment != 0) {
        r.Fail("tensor '" + t.name + "': offset " + std::to_string(t.offset) + " not aligned");
      }
      if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
        r.Fail("duplicate tensor '" + t.name + "'");
      }
      tensors_.push_back(std::move(t));
    }
    uint64_t data_start = (r.pos() + alignment - 1) / alignment * alignment;
    for (GgufTensorInfo& t : tensors_) {
      if (data_start > mapping_size_ || t.offset > mapping_size_ - data_start ||
          static_cast<uint64_t>(t.nbytes) > mapping_size_ - data_start - t.offset) {
        r.Fail("tensor '" + t.name + "': data lies beyond the end of the file (truncated?)");
      }
      t.data = base + data_start + t.offset;
    }
  } catch (...) {
    ::munmap(mapping_, mapping_size_);
    mapping_ = nullptr;
    throw;
  }
}

GgufFile::~GgufFile() {
  if (mapping_) ::munmap(mapping_, mapping_size_);
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::FindTensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

[[noreturn]] void WrongType(const std::filesystem::path& path, const std::string& key,
                            const char* want, const GgufValue& v) {
  throw Error(path.string() + ": metadata '" + key + "' should be " + want + " but is " +
              TypeName(v.type));
}

const GgufValue& Require(const GgufFile& f, const std::string& key) {
  const GgufValue* v = f.Find(key);
  if (!v) throw Error(f.path().string() + ": missing metadata '" + key + "'");
  return *v;
}

template <typename T>
std::vector<T> ArrayOf(const GgufFile& f, const std::string& key, const char* want,
                       bool (*accept)(const GgufValue&), T (*get)(const GgufValue&)) {
  const GgufValue& v = Require(f, key);
  const auto* items = std::get_if<std::vector<GgufValue>>(&v.value);
  if (!items) WrongType(f.path(), key, want, v);
  std::vector<T> out;
  out.reserve(items->size());
  for (const GgufValue& item : *items) {
    if (!accept(item)) WrongType(f.path(), key, want, v);
    out.push_back(get(item));
  }
  return out;
}

bool IsInt(const GgufValue& v) { return std::holds_alternative<int64_t>(v.value); }
bool IsNumber(const GgufValue& v) {
  return std::holds_alternative<int64_t>(v.value) || std::holds_alternative<double>(v.value);
}
bool IsString(const GgufValue& v) { return std::holds_alternative<std::string>(v.value); }
int64_t AsInt(const GgufValue& v) { return std::get<int64_t>(v.value); }
double AsNumber(const GgufValue& v) {
  return IsInt(v) ? static_cast<double>(std::get<int64_t>(v.value)) : std::get<double>(v.value);
}
std::string AsString(const GgufValue& v) { return std::get<std::string>(v.value); }

}  // namespace

std::string GgufFile::GetString(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (!IsString(v)) WrongType(path_, key, "a string", v);
  return AsString(v);
}

int64_t GgufFile::GetInt(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (!IsInt(v)) WrongType(path_, key, "an integer", v);
  return AsInt(v);
}

double GgufFile::GetFloat(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (!IsNumber(v)) WrongType(path_, key, "a number", v);
  return AsNumber(v);
}

bool GgufFile::GetBool(const std::string& key) const {
  const GgufValue& v = Require(*this, key);
  if (const bool* b = std::get_if<bool>(&v.value)) return *b;
  WrongType(path_, key, "a bool", v);
}

std::vector<std::string> GgufFile::GetStringArray(const std::string& key) const {
  return ArrayOf<std::string>(*this, key, "an array of strings", IsString, AsString);
}

std::vector<int64_t> GgufFile::GetIntArray(const std::string& key) const {
  return ArrayOf<int64_t>(*this, key, "an array of integers", IsInt, AsInt);
}

std::vector<double> GgufFile::GetFloatArray(const std::string& key) const {
  return ArrayOf<double>(*this, key, "an array of numbers", IsNumber, AsNumber);
}

std::optional<std::string> GgufFile::GetStringOpt(const std::string& key) const {
  return Find(key) ? std::optional(GetString(key)) : std::nullopt;
}
std::optional<int64_t> GgufFile::GetIntOpt(const std::string& key) const {
  return Find(key) ? std::optional(GetInt(key)) : std::nullopt;
}
std::optional<double> GgufFile::GetFloatOpt(const std::string& key) const {
  return Find(key) ? std::optional(GetFloat(key)) : std::nullopt;
}
std::optional<bool> GgufFile::GetBoolOpt(const std::string& key) const {
  return Find(key) ? std::optional(GetBool(key)) : std::nullopt;
}

}  // namespace xq
