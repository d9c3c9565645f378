// GgufWriter: exact byte layout, and round trips through xq::GgufFile and gguf-py's GGUFReader.
#include "tests/support/gguf_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/model/dequantize.h"
#include "engine/model/gguf_file.h"
#include "tests/support/skip_or_fail.h"

namespace xq::test {
namespace {

namespace fs = std::filesystem;

fs::path TempPath(const std::string& name) {
  return fs::temp_directory_path() / ("xq_gguf_writer_" + std::to_string(::getpid()) + "_" + name);
}

std::vector<uint8_t> F32Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

TEST(GgufWriterTest, ByteLayoutOfASmallFile) {
  GgufWriter w;
  w.SetU32("a", 7);
  w.AddF32Tensor("t", {2}, {1.0f, -2.0f});
  const std::vector<uint8_t> got = w.Serialize(3, 32);

  std::vector<uint8_t> want = {'G', 'G', 'U', 'F', 3, 0, 0, 0,       // magic, version
                               1,   0,   0,   0,   0, 0, 0, 0,       // tensor count
                               1,   0,   0,   0,   0, 0, 0, 0,       // kv count
                               1,   0,   0,   0,   0, 0, 0, 0, 'a',  // key
                               4,   0,   0,   0,   7, 0, 0, 0,       // u32 7
                               1,   0,   0,   0,   0, 0, 0, 0, 't',  // tensor name
                               1,   0,   0,   0,                     // n_dims
                               2,   0,   0,   0,   0, 0, 0, 0,       // dims[0]
                               0,   0,   0,   0,                     // F32
                               0,   0,   0,   0,   0, 0, 0, 0};      // offset
  ASSERT_EQ(want.size(), 74u);
  want.resize(96, 0);  // data starts at the next multiple of 32
  const std::vector<uint8_t> data = F32Bytes({1.0f, -2.0f});
  want.insert(want.end(), data.begin(), data.end());
  want.resize(128, 0);
  EXPECT_EQ(got, want);
}

TEST(GgufWriterTest, RejectsDataThatDoesNotFit) {
  GgufWriter w;
  EXPECT_THROW(w.AddTensor("x", {32}, GgmlType::kQ8_0, std::vector<uint8_t>(33)),
               std::invalid_argument);
  EXPECT_THROW(w.AddTensor("x", {16}, GgmlType::kQ8_0, std::vector<uint8_t>(17)),
               std::invalid_argument);
  EXPECT_THROW(w.AddF32Tensor("x", {2, 2}, {1, 2, 3}), std::invalid_argument);
  w.AddF32Tensor("x", {1}, {1});
  EXPECT_THROW(w.AddF32Tensor("x", {1}, {1}), std::invalid_argument);
}

std::vector<float> Ramp(int n, float scale) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i) + 0.1f);
  return v;
}

GgufWriter SampleWriter() {
  GgufWriter w;
  w.SetString("general.architecture", "llama");
  w.SetU32("llama.block_count", 2);
  w.SetI32("test.i32", -5);
  w.SetU64("test.u64", 1ull << 40);
  w.SetI64("test.i64", -(1ll << 40));
  w.SetF32("test.f32", 1e-5f);
  w.SetF64("test.f64", 0.125);
  w.SetBool("test.bool", true);
  w.SetU8("test.u8", 200);
  w.SetI16("test.i16", -300);
  w.SetStringArray("tokenizer.ggml.tokens", {"<s>", "a b", "\xc3\xa9"});
  w.SetI32Array("tokenizer.ggml.token_type", {3, 1, -1});
  w.SetF32Array("tokenizer.ggml.scores", {0.0f, -1.5f, 2.25f});
  w.SetU32("llama.block_count", 3);  // replaces, keeps position
  w.AddF32Tensor("f32", {3, 2}, {1, 2, 3, 4, 5, 6});
  w.AddQuantizedTensor("q8", {64, 2}, GgmlType::kQ8_0, Ramp(128, 2.0f));
  w.AddQuantizedTensor("q4_0", {32}, GgmlType::kQ4_0, Ramp(32, 1.0f));
  w.AddQuantizedTensor("q4_1", {32, 3}, GgmlType::kQ4_1, Ramp(96, 0.5f));
  w.AddQuantizedTensor("f16", {5}, GgmlType::kF16, {0.5f, -1, 65504, 1e-7f, 3});
  return w;
}

TEST(GgufWriterTest, RoundTripsThroughGgufFile) {
  for (uint32_t alignment : {32u, 64u}) {
    const GgufWriter w = SampleWriter();
    const fs::path path = TempPath("roundtrip.gguf");
    w.Write(path, 3, alignment);
    {
      GgufFile f(path);
      EXPECT_EQ(f.version(), 3u);
      EXPECT_EQ(f.GetString("general.architecture"), "llama");
      EXPECT_EQ(f.GetInt("llama.block_count"), 3);
      EXPECT_EQ(f.GetInt("test.i32"), -5);
      EXPECT_EQ(f.GetInt("test.u64"), 1ll << 40);
      EXPECT_EQ(f.GetInt("test.i64"), -(1ll << 40));
      EXPECT_EQ(f.GetFloat("test.f32"), static_cast<double>(1e-5f));
      EXPECT_EQ(f.GetFloat("test.f64"), 0.125);
      EXPECT_TRUE(f.GetBool("test.bool"));
      EXPECT_EQ(f.GetInt("test.u8"), 200);
      EXPECT_EQ(f.GetInt("test.i16"), -300);
      EXPECT_EQ(f.GetStringArray("tokenizer.ggml.tokens"),
                (std::vector<std::string>{"<s>", "a b", "\xc3\xa9"}));
      EXPECT_EQ(f.GetIntArray("tokenizer.ggml.token_type"), (std::vector<int64_t>{3, 1, -1}));
      EXPECT_EQ(f.GetFloatArray("tokenizer.ggml.scores"), (std::vector<double>{0, -1.5, 2.25}));
      if (alignment != 32) {
        EXPECT_EQ(f.GetInt("general.alignment"), alignment);
      }

      ASSERT_EQ(f.tensors().size(), 5u);
      const GgufTensorInfo* t = f.FindTensor("f32");
      ASSERT_NE(t, nullptr);
      EXPECT_EQ(t->dims, (std::vector<int64_t>{3, 2}));
      EXPECT_EQ(t->type, static_cast<uint32_t>(GgmlType::kF32));
      ASSERT_EQ(t->nbytes, 24);
      EXPECT_EQ(std::memcmp(t->data, F32Bytes({1, 2, 3, 4, 5, 6}).data(), 24), 0);
      for (const GgufTensorInfo& ti : f.tensors()) EXPECT_EQ(ti.offset % alignment, 0u);

      // The Q8_0 tensor dequantizes back to its input within half a quantization step, plus the
      // fp16 rounding of the scale (up to 127 * 2^-11 steps).
      const GgufTensorInfo* q8 = f.FindTensor("q8");
      ASSERT_NE(q8, nullptr);
      EXPECT_EQ(q8->nbytes, 4 * 34);
      std::vector<float> back(128);
      DequantizeRow(GgmlType::kQ8_0, q8->data, back.data(), 128);
      const std::vector<float> in = Ramp(128, 2.0f);
      for (int i = 0; i < 128; ++i) EXPECT_NEAR(back[i], in[i], 2.0f / 127 * 0.57f) << i;
    }
    fs::remove(path);
  }
}

bool PythonGgufAvailable() { return std::system("python3 -c 'import gguf' >/dev/null 2>&1") == 0; }

TEST(GgufWriterTest, RoundTripsThroughGgufPy) {
  if (!PythonGgufAvailable()) XQ_SKIP_OR_FAIL() << "python3 with the gguf package is not available";
  const fs::path gguf_path = TempPath("py.gguf");
  const fs::path script = TempPath("dump.py");
  const fs::path json_path = TempPath("dump.json");
  SampleWriter().Write(gguf_path, 3, 64);
  std::ofstream(script) << R"(
import json, sys
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
out = {"fields": {}, "tensors": []}
for name, f in r.fields.items():
    if name.startswith("GGUF."):
        continue
    v = f.contents()
    out["fields"][name] = v
for t in r.tensors:
    out["tensors"].append({"name": t.name, "type": int(t.tensor_type),
                           "shape": [int(x) for x in t.shape], "hex": t.data.tobytes().hex()})
json.dump(out, open(sys.argv[2], "w"))
)";
  const std::string cmd =
      "python3 " + script.string() + " " + gguf_path.string() + " " + json_path.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const nlohmann::json doc = nlohmann::json::parse(std::ifstream(json_path));
  const auto& fields = doc.at("fields");
  EXPECT_EQ(fields.at("general.architecture"), "llama");
  EXPECT_EQ(fields.at("llama.block_count"), 3);
  EXPECT_EQ(fields.at("general.alignment"), 64);
  EXPECT_EQ(fields.at("test.u64"), 1ull << 40);
  EXPECT_EQ(fields.at("test.i64"), -(1ll << 40));
  EXPECT_EQ(fields.at("test.f32").get<float>(), 1e-5f);
  EXPECT_EQ(fields.at("test.bool"), true);
  EXPECT_EQ(fields.at("test.i16"), -300);
  EXPECT_EQ(fields.at("tokenizer.ggml.tokens"), nlohmann::json::array({"<s>", "a b", "\xc3\xa9"}));
  EXPECT_EQ(fields.at("tokenizer.ggml.token_type"), nlohmann::json::array({3, 1, -1}));
  EXPECT_EQ(fields.at("tokenizer.ggml.scores"), nlohmann::json::array({0.0, -1.5, 2.25}));

  const auto& tensors = doc.at("tensors");
  ASSERT_EQ(tensors.size(), 5u);
  EXPECT_EQ(tensors[0].at("name"), "f32");
  EXPECT_EQ(tensors[0].at("shape"), nlohmann::json::array({3, 2}));
  EXPECT_EQ(tensors[0].at("hex"),
            "0000803f000000400000404000008040"
            "0000a0400000c040");
  EXPECT_EQ(tensors[1].at("name"), "q8");
  EXPECT_EQ(tensors[1].at("type"), static_cast<int>(GgmlType::kQ8_0));
  EXPECT_EQ(tensors[1].at("hex").get<std::string>().size(), 4u * 34 * 2);
  EXPECT_EQ(tensors[3].at("shape"), nlohmann::json::array({32, 3}));
  EXPECT_EQ(tensors[4].at("type"), static_cast<int>(GgmlType::kF16));
  fs::remove(gguf_path);
  fs::remove(script);
  fs::remove(json_path);
}

}  // namespace
}  // namespace xq::test
