#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>

#include "engine/common/error.h"
#include "engine/model/safetensors_file.h"
#include "tests/support/temp_dir.h"

namespace xq {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SafetensorsFileTest : public ::testing::Test {
 protected:
  fs::path TestPath(const std::string& suffix = ".safetensors") {
    return tmp_ / ("file" + std::to_string(++files_) + suffix);
  }

  // A file laid out by hand: 8-byte little-endian length (header.size() unless overridden),
  // the header text, then the data bytes.
  fs::path WriteRaw(const std::string& header, const std::vector<uint8_t>& data,
                    std::optional<uint64_t> header_len = std::nullopt) {
    const fs::path path = TestPath();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    const uint64_t len = header_len.value_or(header.size());
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(len >> (8 * i)));
    out << header;
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    return path;
  }

  test::TempDir tmp_;
  int files_ = 0;
};

std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no xq::Error thrown";
  return "";
}

std::string OpenError(const fs::path& path) {
  return ErrorOf([&] { SafetensorsFile f(path); });
}

TEST_F(SafetensorsFileTest, ReadsHandWrittenF32F16Bf16) {
  // F32 [2]: 1.5, -0.25; F16 [2]: 0x3c00 = 1, 0x0001 = 2^-24 (subnormal);
  // BF16 [1,2]: 0xc000 = -2, 0x7f80 = +inf.
  std::vector<uint8_t> data(8 + 4 + 4);
  const float f32[2] = {1.5f, -0.25f};
  std::memcpy(data.data(), f32, 8);
  const uint16_t f16[2] = {0x3c00, 0x0001}, bf16[2] = {0xc000, 0x7f80};
  std::memcpy(data.data() + 8, f16, 4);
  std::memcpy(data.data() + 12, bf16, 4);
  const fs::path path = WriteRaw(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
      R"("c":{"dtype":"BF16","shape":[1,2],"data_offsets":[12,16]}})",
      data);
  const SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.ReadTensor("a").data, (std::vector<float>{1.5f, -0.25f}));
  EXPECT_EQ(f.ReadTensor("b").data, (std::vector<float>{1.0f, std::ldexp(1.0f, -24)}));
  const Tensor c = f.ReadTensor("c");
  EXPECT_EQ(c.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.data[0], -2.0f);
  EXPECT_TRUE(std::isinf(c.data[1]) && c.data[1] > 0);
  EXPECT_EQ(f.Find("zzz"), nullptr);
}

TEST_F(SafetensorsFileTest, WriteReadRoundTripPerDtype) {
  Tensor t;
  t.shape = {2, 3};
  // 1 + 2^-8 is a BF16 tie (rounds to even: 1); 1 + 3*2^-8 rounds up to 1 + 2^-6 in BF16.
  // 1 + 2^-11 is an F16 tie (-> 1); 65520 overflows F16 to inf.
  t.data = {0.5f,
            -3.0f,
            1.0f + std::ldexp(1.0f, -8),
            1.0f + 3 * std::ldexp(1.0f, -8),
            1.0f + std::ldexp(1.0f, -11),
            65520.0f};
  Tensor scalar;
  scalar.data = {7.0f};
  const fs::path path = TestPath();

  WriteSafetensors(path, {{"t", &t}, {"s", &scalar}}, SafetensorsDtype::kF32, {{"k", "v"}});
  {
    const SafetensorsFile f(path);
    EXPECT_EQ(f.ReadTensor("t").data, t.data);
    EXPECT_EQ(f.ReadTensor("t").shape, t.shape);
    EXPECT_EQ(f.ReadTensor("s").data, scalar.data);
    EXPECT_TRUE(f.ReadTensor("s").shape.empty());
    EXPECT_EQ(f.metadata().at("k"), "v");
  }
  WriteSafetensors(path, {{"t", &t}}, SafetensorsDtype::kBF16);
  {
    const SafetensorsFile f(path);
    EXPECT_EQ(f.Find("t")->dtype, SafetensorsDtype::kBF16);
    const std::vector<float> want = {0.5f, -3.0f,   1.0f, 1.0f + std::ldexp(1.0f, -6),
                                     1.0f, 65536.0f};
    EXPECT_EQ(f.ReadTensor("t").data, want);
    const auto bytes = f.Bytes(*f.Find("t"));
    ASSERT_EQ(bytes.size(), 12u);
    EXPECT_EQ(bytes[0], 0x00);  // 0.5 = 0x3f00, little-endian
    EXPECT_EQ(bytes[1], 0x3f);
  }
  WriteSafetensors(path, {{"t", &t}}, SafetensorsDtype::kF16);
  {
    const SafetensorsFile f(path);
    const Tensor r = f.ReadTensor("t");
    EXPECT_EQ(r.data[0], 0.5f);
    EXPECT_EQ(r.data[1], -3.0f);
    EXPECT_EQ(r.data[2], 1.0f + std::ldexp(1.0f, -8));  // exact in F16
    EXPECT_EQ(r.data[4], 1.0f);
    EXPECT_TRUE(std::isinf(r.data[5]));
  }
  EXPECT_THAT(ErrorOf([&] {
                WriteSafetensors(path, {{"t", &t}}, SafetensorsDtype::kI32);
              }),
              HasSubstr("I32"));
}

TEST_F(SafetensorsFileTest, DataSectionIsEightByteAligned) {
  Tensor t;
  t.shape = {3};
  t.data = {1, 2, 3};
  const fs::path path = TestPath();
  WriteSafetensors(path, {{"x", &t}}, SafetensorsDtype::kF32);
  std::ifstream in(path, std::ios::binary);
  uint64_t len = 0;
  in.read(reinterpret_cast<char*>(&len), 8);
  EXPECT_EQ(len % 8, 0u);
  EXPECT_EQ(fs::file_size(path), 8 + len + 12);
}

TEST_F(SafetensorsFileTest, TruncatedFile) {
  const fs::path path = TestPath();
  std::ofstream(path, std::ios::binary) << "abc";
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("truncated"));
}

TEST_F(SafetensorsFileTest, HeaderLengthBeyondFile) {
  const fs::path path = WriteRaw("{}", {}, 4096);
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("header length 4096"));
}

TEST_F(SafetensorsFileTest, BadJson) {
  const fs::path path = WriteRaw(R"({"a": {"dtype": "F32",)", {});
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("JSON"));
}

TEST_F(SafetensorsFileTest, OffsetsOutOfBounds) {
  const fs::path path = WriteRaw(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                 std::vector<uint8_t>(8));
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("data_offsets"));
}

TEST_F(SafetensorsFileTest, UnknownDtype) {
  const fs::path path =
      WriteRaw(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}})", std::vector<uint8_t>(2));
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("dtype 'Q4'"));
}

TEST_F(SafetensorsFileTest, ShapeSizeMismatch) {
  const fs::path path = WriteRaw(R"({"w":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,8]}})",
                                 std::vector<uint8_t>(8));
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("[3, 2]"));
  EXPECT_THAT(msg, HasSubstr("needs 12"));
}

TEST_F(SafetensorsFileTest, OverlappingTensors) {
  const fs::path path = WriteRaw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 std::vector<uint8_t>(12));
  const std::string msg = OpenError(path);
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("overlap"));
}

TEST_F(SafetensorsFileTest, MalformedFields) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([1, 2])", "not a JSON object"},
      {R"({"w":{"shape":[1],"data_offsets":[0,4]}})", "dtype"},
      {R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "shape"},
      {R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", "shape"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", "data_offsets"},
      {R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "data_offsets"},
      {R"({"__metadata__":{"k":1}})", "__metadata__.k"},
  };
  for (const auto& [header, field] : cases) {
    const fs::path path = WriteRaw(header, std::vector<uint8_t>(4));
    const std::string msg = OpenError(path);
    EXPECT_THAT(msg, HasSubstr(path.string())) << header;
    EXPECT_THAT(msg, HasSubstr(field)) << header;
  }
}

TEST_F(SafetensorsFileTest, MissingTensorAndUnsupportedDtypeOnRead) {
  const fs::path path =
      WriteRaw(R"({"ids":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})", {1, 0, 0, 0});
  const SafetensorsFile f(path);
  EXPECT_EQ(f.Find("ids")->dtype, SafetensorsDtype::kI32);
  std::string msg = ErrorOf([&] { f.ReadTensor("ids"); });
  EXPECT_THAT(msg, HasSubstr(path.string()));
  EXPECT_THAT(msg, HasSubstr("'ids'"));
  EXPECT_THAT(msg, HasSubstr("I32"));
  msg = ErrorOf([&] { f.ReadTensor("nope"); });
  EXPECT_THAT(msg, HasSubstr("missing tensor 'nope'"));
}

TEST_F(SafetensorsFileTest, MissingFile) {
  const fs::path path = TestPath(".absent");
  EXPECT_THAT(OpenError(path), HasSubstr(path.string()));
}

}  // namespace
}  // namespace xq
