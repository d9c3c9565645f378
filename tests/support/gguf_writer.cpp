#include "tests/support/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "tests/support/quantize_ref.h"

namespace xq::test {
namespace {

class Bytes {
 public:
  template <typename T>
  Bytes& Put(T v) {
    const size_t at = out_.size();
    out_.resize(at + sizeof(T));
    std::memcpy(out_.data() + at, &v, sizeof(T));  // GGUF is little-endian, as is every host here
    return *this;
  }
  Bytes& PutString(const std::string& s) {
    Put<uint64_t>(s.size());
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& PutRaw(const std::vector<uint8_t>& raw) {
    out_.insert(out_.end(), raw.begin(), raw.end());
    return *this;
  }
  void PadTo(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(0);
  }
  std::vector<uint8_t>& vec() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

template <typename T>
std::vector<uint8_t> Scalar(T v) {
  Bytes b;
  b.Put(v);
  return std::move(b.vec());
}

template <typename T>
std::vector<uint8_t> Array(GgufType elem, const std::vector<T>& v) {
  Bytes b;
  b.Put(static_cast<uint32_t>(elem)).Put<uint64_t>(v.size());
  for (const T& x : v) b.Put(x);
  return std::move(b.vec());
}

}  // namespace

void GgufWriter::Set(const std::string& key, GgufType type, std::vector<uint8_t> payload) {
  for (Entry& e : entries_) {
    if (e.key == key) {
      e.type = type;
      e.payload = std::move(payload);
      return;
    }
  }
  entries_.push_back({key, type, std::move(payload)});
}

void GgufWriter::Remove(const std::string& key) {
  std::erase_if(entries_, [&](const Entry& e) { return e.key == key; });
}

void GgufWriter::SetU8(const std::string& k, uint8_t v) { Set(k, GgufType::kU8, Scalar(v)); }
void GgufWriter::SetI8(const std::string& k, int8_t v) { Set(k, GgufType::kI8, Scalar(v)); }
void GgufWriter::SetU16(const std::string& k, uint16_t v) { Set(k, GgufType::kU16, Scalar(v)); }
void GgufWriter::SetI16(const std::string& k, int16_t v) { Set(k, GgufType::kI16, Scalar(v)); }
void GgufWriter::SetU32(const std::string& k, uint32_t v) { Set(k, GgufType::kU32, Scalar(v)); }
void GgufWriter::SetI32(const std::string& k, int32_t v) { Set(k, GgufType::kI32, Scalar(v)); }
void GgufWriter::SetU64(const std::string& k, uint64_t v) { Set(k, GgufType::kU64, Scalar(v)); }
void GgufWriter::SetI64(const std::string& k, int64_t v) { Set(k, GgufType::kI64, Scalar(v)); }
void GgufWriter::SetF32(const std::string& k, float v) { Set(k, GgufType::kF32, Scalar(v)); }
void GgufWriter::SetF64(const std::string& k, double v) { Set(k, GgufType::kF64, Scalar(v)); }
void GgufWriter::SetBool(const std::string& k, bool v) {
  Set(k, GgufType::kBool, Scalar<uint8_t>(v ? 1 : 0));
}
void GgufWriter::SetString(const std::string& k, const std::string& v) {
  Bytes b;
  b.PutString(v);
  Set(k, GgufType::kString, std::move(b.vec()));
}

void GgufWriter::SetStringArray(const std::string& k, const std::vector<std::string>& v) {
  Bytes b;
  b.Put(static_cast<uint32_t>(GgufType::kString)).Put<uint64_t>(v.size());
  for (const std::string& s : v) b.PutString(s);
  Set(k, GgufType::kArray, std::move(b.vec()));
}
void GgufWriter::SetI32Array(const std::string& k, const std::vector<int32_t>& v) {
  Set(k, GgufType::kArray, Array(GgufType::kI32, v));
}
void GgufWriter::SetU32Array(const std::string& k, const std::vector<uint32_t>& v) {
  Set(k, GgufType::kArray, Array(GgufType::kU32, v));
}
void GgufWriter::SetI64Array(const std::string& k, const std::vector<int64_t>& v) {
  Set(k, GgufType::kArray, Array(GgufType::kI64, v));
}
void GgufWriter::SetF32Array(const std::string& k, const std::vector<float>& v) {
  Set(k, GgufType::kArray, Array(GgufType::kF32, v));
}
void GgufWriter::SetBoolArray(const std::string& k, const std::vector<bool>& v) {
  std::vector<uint8_t> bytes(v.begin(), v.end());
  Set(k, GgufType::kArray, Array(GgufType::kBool, bytes));
}

void GgufWriter::AddTensor(const std::string& name, const std::vector<int64_t>& dims, GgmlType type,
                           std::vector<uint8_t> data) {
  const GgmlTypeInfo* info = FindGgmlType(static_cast<uint32_t>(type));
  if (info == nullptr) throw std::invalid_argument("AddTensor " + name + ": unknown type");
  int64_t elems = 1;
  for (int64_t d : dims) elems *= d;
  if (dims.empty() || elems % info->block_elems != 0 ||
      static_cast<int64_t>(data.size()) != elems / info->block_elems * info->block_bytes) {
    throw std::invalid_argument("AddTensor " + name + ": " + std::to_string(data.size()) +
                                " bytes do not fit its dims and type " + info->name);
  }
  for (const Tensor& t : tensors_) {
    if (t.name == name) throw std::invalid_argument("AddTensor: duplicate tensor " + name);
  }
  tensors_.push_back({name, dims, type, std::move(data)});
}

void GgufWriter::AddF32Tensor(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<float>& values) {
  AddQuantizedTensor(name, dims, GgmlType::kF32, values);
}

void GgufWriter::AddQuantizedTensor(const std::string& name, const std::vector<int64_t>& dims,
                                    GgmlType type, const std::vector<float>& values) {
  int64_t elems = 1;
  for (int64_t d : dims) elems *= d;
  if (elems != static_cast<int64_t>(values.size())) {
    throw std::invalid_argument("AddQuantizedTensor " + name + ": " +
                                std::to_string(values.size()) + " values for " +
                                std::to_string(elems) + " elements");
  }
  AddTensor(name, dims, type, QuantizeRow(type, values.data(), elems));
}

std::vector<uint8_t> GgufWriter::Serialize(uint32_t version, uint32_t alignment) const {
  if (alignment == 0) throw std::invalid_argument("GgufWriter: alignment 0");
  std::vector<Entry> entries = entries_;
  const bool has_alignment_key = std::any_of(
      entries.begin(), entries.end(), [](const Entry& e) { return e.key == "general.alignment"; });
  if (alignment != 32 && !has_alignment_key) {
    entries.push_back({"general.alignment", GgufType::kU32, Scalar<uint32_t>(alignment)});
  }

  Bytes b;
  b.Put<uint32_t>(0x46554747).Put<uint32_t>(version);  // "GGUF"
  b.Put<uint64_t>(tensors_.size()).Put<uint64_t>(entries.size());
  for (const Entry& e : entries) {
    b.PutString(e.key).Put(static_cast<uint32_t>(e.type)).PutRaw(e.payload);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    b.PutString(t.name).Put<uint32_t>(t.dims.size());
    for (int64_t d : t.dims) b.Put<uint64_t>(d);
    b.Put(static_cast<uint32_t>(t.type)).Put<uint64_t>(offset);
    offset = (offset + t.data.size() + alignment - 1) / alignment * alignment;
  }
  b.PadTo(alignment);
  for (const Tensor& t : tensors_) {
    b.PutRaw(t.data);
    b.PadTo(alignment);
  }
  return std::move(b.vec());
}

void GgufWriter::Write(const std::filesystem::path& path, uint32_t version,
                       uint32_t alignment) const {
  const std::vector<uint8_t> bytes = Serialize(version, alignment);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("GgufWriter: cannot write " + path.string());
}

}  // namespace xq::test
