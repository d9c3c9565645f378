#include "engine/model/safetensors_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/common/error.h"
#include "kernels/reference/half.h"

namespace xq {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit

struct DtypeEntry {
  SafetensorsDtype dtype;
  const char* name;
  size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1},      {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},          {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},        {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},      {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},        {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},        {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},        {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1},
};

const DtypeEntry& Entry(SafetensorsDtype dtype) {
  for (const auto& e : kDtypes) {
    if (e.dtype == dtype) return e;
  }
  throw Error("safetensors: invalid dtype enum");
}

[[noreturn]] void Fail(const std::string& file, const std::string& what) {
  throw Error(file + ": " + what);
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

}  // namespace

const char* SafetensorsDtypeName(SafetensorsDtype dtype) { return Entry(dtype).name; }
size_t SafetensorsDtypeSize(SafetensorsDtype dtype) { return Entry(dtype).size; }

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  auto fail = [&](const std::string& what) { Fail(file, what); };

  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail("truncated: " + std::to_string(file_size) + " bytes, too short for the header length");
  }
  void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail(std::string("mmap failed: ") + std::strerror(errno));
  map_ = static_cast<const uint8_t*>(map);
  map_size_ = file_size;

  try {
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | map_[i];
    if (header_len > file_size - 8) {
      fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
           std::to_string(file_size) + " bytes)");
    }
    if (header_len > kMaxHeaderBytes) {
      fail("header length " + std::to_string(header_len) + " exceeds the 100 MiB limit");
    }
    data_ = map_ + 8 + header_len;
    const uint64_t data_size = file_size - 8 - header_len;

    nlohmann::ordered_json header;
    try {
      header = nlohmann::ordered_json::parse(map_ + 8, map_ + 8 + header_len);
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) fail("header is not a JSON object");

    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (!value.is_object()) fail("__metadata__ is not an object");
        for (const auto& [k, v] : value.items()) {
          if (!v.is_string()) fail("__metadata__." + k + " is not a string");
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      const std::string where = "tensor '" + name + "': ";
      if (!value.is_object()) fail(where + "entry is not an object");
      SafetensorsTensorInfo info;
      info.name = name;

      const auto dtype = value.find("dtype");
      if (dtype == value.end() || !dtype->is_string())
        fail(where + "dtype missing or not a string");
      const std::string dtype_name = dtype->get<std::string>();
      const auto known = std::find_if(std::begin(kDtypes), std::end(kDtypes),
                                      [&](const DtypeEntry& e) { return dtype_name == e.name; });
      if (known == std::end(kDtypes)) fail(where + "dtype '" + dtype_name + "' is unknown");
      info.dtype = known->dtype;

      const auto shape = value.find("shape");
      if (shape == value.end() || !shape->is_array()) fail(where + "shape missing or not an array");
      uint64_t numel = 1;
      for (const auto& d : *shape) {
        if (!d.is_number_unsigned()) fail(where + "shape has a non-integer or negative dimension");
        const uint64_t dim = d.get<uint64_t>();
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
            (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / known->size / dim)) {
          fail(where + "shape " + d.dump() + " overflows");
        }
        numel *= dim;
        info.shape.push_back(static_cast<int64_t>(dim));
      }

      const auto offsets = value.find("data_offsets");
      if (offsets == value.end() || !offsets->is_array() || offsets->size() != 2 ||
          !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
        fail(where + "data_offsets must be two non-negative integers");
      }
      info.begin = (*offsets)[0].get<uint64_t>();
      info.end = (*offsets)[1].get<uint64_t>();
      if (info.begin > info.end || info.end > data_size) {
        fail(where + "data_offsets [" + std::to_string(info.begin) + ", " +
             std::to_string(info.end) + "] out of bounds of the " + std::to_string(data_size) +
             "-byte data section");
      }
      if (info.end - info.begin != numel * known->size) {
        fail(where + "data_offsets span " + std::to_string(info.end - info.begin) +
             " bytes but shape " + ShapeString(info.shape) + " of " + dtype_name + " needs " +
             std::to_string(numel * known->size));
      }
      index_[name] = tensors_.size();
      tensors_.push_back(std::move(info));
    }

    std::vector<const SafetensorsTensorInfo*> by_offset;
    for (const auto& t : tensors_) {
      if (t.end > t.begin) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const auto* a, const auto* b) { return a->begin < b->begin; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      if (by_offset[i]->begin < by_offset[i - 1]->end) {
        fail("tensor '" + by_offset[i]->name + "': data_offsets overlap tensor '" +
             by_offset[i - 1]->name + "'");
      }
    }
  } catch (...) {
    Unmap();
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() { Unmap(); }

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      tensors_(std::move(other.tensors_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Unmap();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    tensors_ = std::move(other.tensors_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

void SafetensorsFile::Unmap() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  map_ = nullptr;
  map_size_ = 0;
  data_ = nullptr;
}

const SafetensorsTensorInfo* SafetensorsFile::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> SafetensorsFile::Bytes(const SafetensorsTensorInfo& info) const {
  return {data_ + info.begin, data_ + info.end};
}

Tensor SafetensorsFile::ReadTensor(const std::string& name) const {
  const SafetensorsTensorInfo* info = Find(name);
  if (info == nullptr) throw Error(path_.string() + ": missing tensor '" + name + "'");
  const std::span<const uint8_t> bytes = Bytes(*info);
  Tensor t;
  t.shape = info->shape;
  const size_t n = bytes.size() / SafetensorsDtypeSize(info->dtype);
  t.data.resize(n);
  // The data section has no alignment guarantee, so every element goes through memcpy.
  switch (info->dtype) {
    case SafetensorsDtype::kF32:
      std::memcpy(t.data.data(), bytes.data(), n * sizeof(float));
      break;
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16: {
      const bool bf16 = info->dtype == SafetensorsDtype::kBF16;
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        t.data[i] = bf16 ? Bf16ToFloat(h) : HalfToFloat(h);
      }
      break;
    }
    default:
      throw Error(path_.string() + ": tensor '" + name + "': dtype " +
                  SafetensorsDtypeName(info->dtype) + " is not supported (F32, F16, BF16)");
  }
  return t;
}

void WriteSafetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                      SafetensorsDtype dtype, const std::map<std::string, std::string>& metadata) {
  if (dtype != SafetensorsDtype::kF32 && dtype != SafetensorsDtype::kF16 &&
      dtype != SafetensorsDtype::kBF16) {
    throw Error(path.string() + ": cannot write dtype " + SafetensorsDtypeName(dtype));
  }
  const size_t elem = SafetensorsDtypeSize(dtype);
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const uint64_t bytes = t->data.size() * elem;
    header[name] = {{"dtype", SafetensorsDtypeName(dtype)},
                    {"shape", t->shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path.string() + ": cannot open for writing");
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(text.size() >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<uint8_t> buf;
  for (const auto& [name, t] : tensors) {
    buf.resize(t->data.size() * elem);
    for (size_t i = 0; i < t->data.size(); ++i) {
      if (dtype == SafetensorsDtype::kF32) {
        std::memcpy(buf.data() + 4 * i, &t->data[i], 4);
      } else {
        const uint16_t h =
            dtype == SafetensorsDtype::kBF16 ? FloatToBf16(t->data[i]) : FloatToHalf(t->data[i]);
        std::memcpy(buf.data() + 2 * i, &h, 2);
      }
    }
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
  }
  if (!out.flush()) throw Error(path.string() + ": write failed");
}

}  // namespace xq
