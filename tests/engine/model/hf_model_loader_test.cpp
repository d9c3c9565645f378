#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "engine/common/error.h"
#include "engine/model/hf_config.h"
#include "engine/model/model_loader.h"
#include "engine/model/safetensors_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/support/hf_model_writer.h"
#include "tests/support/skip_or_fail.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_model.h"

namespace xq {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no xq::Error thrown";
  return "";
}

json ReadJson(const fs::path& p) { return json::parse(std::ifstream(p)); }
void WriteJson(const fs::path& p, const json& j) { std::ofstream(p) << j.dump(2); }

void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_layers, b.num_layers);
  EXPECT_EQ(a.num_heads, b.num_heads);
  EXPECT_EQ(a.num_kv_heads, b.num_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_context, b.max_context);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position, b.rope_scaling.original_max_position);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
}

// Every tensor of `b` against `a` through `check(name, a_tensor, b_tensor)`.
void ForEachTensorPair(
    const ModelWeights& a, const ModelWeights& b,
    const std::function<void(const std::string&, const Tensor&, const Tensor&)>& check) {
  check("token_embedding", a.token_embedding, b.token_embedding);
  check("output_norm", a.output_norm, b.output_norm);
  check("output", a.output, b.output);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerWeights &x = a.layers[i], &y = b.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    check(p + "attn_norm", x.attn_norm, y.attn_norm);
    check(p + "wq", x.wq, y.wq);
    check(p + "wk", x.wk, y.wk);
    check(p + "wv", x.wv, y.wv);
    check(p + "wo", x.wo, y.wo);
    check(p + "bq", x.bq, y.bq);
    check(p + "bk", x.bk, y.bk);
    check(p + "bv", x.bv, y.bv);
    check(p + "ffn_norm", x.ffn_norm, y.ffn_norm);
    check(p + "w_gate", x.w_gate, y.w_gate);
    check(p + "w_up", x.w_up, y.w_up);
    check(p + "w_down", x.w_down, y.w_down);
  }
}

void ExpectSameWeights(const ModelWeights& a, const ModelWeights& b) {
  ForEachTensorPair(a, b, [](const std::string& name, const Tensor& x, const Tensor& y) {
    EXPECT_EQ(x.shape, y.shape) << name;
    EXPECT_TRUE(x.data == y.data) << name;
  });
}

// Equivalent tokenizers: same vocabulary, special ids and flags, and the same encodings.
void ExpectEquivalentTokenizer(const TokenizerSpec& a, const TokenizerSpec& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.types.size(), b.types.size());
  for (size_t i = 0; i < a.types.size(); ++i) EXPECT_EQ(a.types[i], b.types[i]) << a.tokens[i];
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.unk_id, b.unk_id);
  EXPECT_EQ(a.pad_id, b.pad_id);
  EXPECT_EQ(a.add_bos, b.add_bos);
  EXPECT_EQ(a.add_eos, b.add_eos);
  EXPECT_EQ(a.add_space_prefix, b.add_space_prefix);
  EXPECT_EQ(a.chat_template, b.chat_template);
  if (a.kind == TokenizerKind::kByteLevelBpe) {
    EXPECT_EQ(a.pre, b.pre);
    EXPECT_EQ(a.merges, b.merges);
  }
  const Tokenizer ta(a), tb(b);
  for (const char* text :
       {"the cat is in the garden and he went on", "<|im_start|>user\nHello 123 world!<|im_end|>",
        "  spaces\tand\nnewlines  ", "ünïcödé 日本 \xF0\x9F\x98\x80", "<tool_call>at the end"}) {
    EXPECT_EQ(ta.Encode(text), tb.Encode(text)) << text;
  }
  if (a.eot_id) {
    EXPECT_TRUE(tb.IsEndOfGeneration(*a.eot_id));
  }
}

struct RoundTripCase {
  std::string name;
  test::TinyModelOptions options;
};

void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.name; }

class HfRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(HfRoundTrip, ExportThenLoadGivesTheSameModel) {
  Model m = test::MakeTinyModel(GetParam().options);
  m.extra_eos_ids = {*m.tokenizer.eos_id, 7};
  if (GetParam().options.architecture == "mistral") {
    m.config.rope_scaling = {"llama3", 8.0f, 1.0f, 4.0f, 64};
  } else if (GetParam().options.architecture == "qwen2") {
    m.config.rope_scaling = {"linear", 2.0f};
    m.config.rope_theta = 1e6f;
  }
  const test::TempDir tmp;
  const fs::path dir = tmp / "model";
  ExportHfModel(m, dir);
  const Model loaded = LoadHfModel(dir);
  EXPECT_EQ(loaded.source, dir.string());
  ExpectSameConfig(m.config, loaded.config);
  ExpectSameWeights(m.weights, loaded.weights);
  ExpectEquivalentTokenizer(m.tokenizer, loaded.tokenizer);
  EXPECT_EQ(loaded.extra_eos_ids, m.extra_eos_ids);
  EXPECT_EQ(LoadModel(dir).weights.token_embedding.data, m.weights.token_embedding.data);
}

INSTANTIATE_TEST_SUITE_P(Architectures, HfRoundTrip,
                         ::testing::Values(RoundTripCase{"llama", {"llama", false, false, 1}},
                                           RoundTripCase{"llama_tied", {"llama", true, false, 2}},
                                           RoundTripCase{"mistral_spm",
                                                         {"mistral", false, true, 3}},
                                           RoundTripCase{"qwen2_bias", {"qwen2", true, false, 4}}),
                         [](const auto& info) { return info.param.name; });

TEST(HfModelLoader, ShardedAndSingleGiveIdenticalWeights) {
  const Model m = test::MakeTinyModel({"qwen2", false, false, 7});
  const test::TempDir tmp;
  const fs::path single = tmp / "single", sharded = tmp / "sharded";
  ExportHfModel(m, single);
  ExportHfModel(m, sharded, SafetensorsDtype::kF32, /*max_shard_bytes=*/64 * 1024);
  EXPECT_FALSE(fs::exists(sharded / "model.safetensors"));
  const json index = ReadJson(sharded / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) shards.insert(file);
  EXPECT_GE(shards.size(), 3u);
  for (const auto& s : shards) EXPECT_TRUE(fs::exists(sharded / s)) << s;

  const Model a = LoadHfModel(single), b = LoadHfModel(sharded);
  ExpectSameWeights(a.weights, b.weights);
  ExpectSameWeights(m.weights, b.weights);
}

// A real vocabulary and real weights: the default GGUF model, exported and read back.
TEST(HfModelLoader, DefaultModelExportRoundTrip) {
  if (!fs::exists(XQ_DEFAULT_MODEL)) {
    XQ_SKIP_OR_FAIL() << XQ_DEFAULT_MODEL << " missing (make model)";
  }
  const Model m = LoadModel(XQ_DEFAULT_MODEL, {.keep_quantized = false});
  const test::TempDir tmp;
  ExportHfModel(m, tmp.path());
  const Model loaded = LoadHfModel(tmp.path());
  ExpectSameConfig(m.config, loaded.config);
  ExpectSameWeights(m.weights, loaded.weights);
  ExpectEquivalentTokenizer(m.tokenizer, loaded.tokenizer);
}

TEST(HfModelLoader, Bf16AndF16ExportsRoundToNearest) {
  const Model m = test::MakeTinyModel({"llama", false, false, 11});
  const test::TempDir tmp;
  for (const auto dtype : {SafetensorsDtype::kBF16, SafetensorsDtype::kF16}) {
    const fs::path dir = tmp / SafetensorsDtypeName(dtype);
    ExportHfModel(m, dir, dtype);
    EXPECT_EQ(ReadJson(dir / "config.json")["torch_dtype"],
              dtype == SafetensorsDtype::kBF16 ? "bfloat16" : "float16");
    EXPECT_EQ(SafetensorsFile(dir / "model.safetensors").Find("lm_head.weight")->dtype, dtype);
    const Model loaded = LoadHfModel(dir);
    // Half an ulp of the format's mantissa (7 or 10 bits); F16 subnormals below 2^-14 get an
    // absolute bound instead.
    const int mant = dtype == SafetensorsDtype::kBF16 ? 7 : 10;
    size_t changed = 0, total = 0;
    ForEachTensorPair(
        m.weights, loaded.weights, [&](const std::string& name, const Tensor& x, const Tensor& y) {
          ASSERT_EQ(x.shape, y.shape) << name;
          ASSERT_EQ(x.data.size(), y.data.size()) << name;
          for (size_t i = 0; i < x.data.size(); ++i) {
            const float bound =
                std::max(std::ldexp(std::fabs(x.data[i]), -mant - 1), std::ldexp(1.0f, -25));
            ASSERT_LE(std::fabs(x.data[i] - y.data[i]), bound) << name << " " << i;
            changed += x.data[i] != y.data[i];
            ++total;
          }
        });
    EXPECT_GT(changed, total / 2) << "weights were not converted";
  }
}

class HfModelLoaderErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = test::MakeTinyModel({"llama", false, false, 5});
    dir_ = tmp_ / "model";
    ExportHfModel(model_, dir_);
  }

  // Rewrites model.safetensors with `edit` applied to the HF-named tensor list.
  void RewriteWeights(
      const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit) {
    const SafetensorsFile f(dir_ / "model.safetensors");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const auto& info : f.tensors()) tensors.emplace_back(info.name, f.ReadTensor(info.name));
    edit(tensors);
    std::vector<std::pair<std::string, const Tensor*>> refs;
    for (const auto& [name, t] : tensors) refs.emplace_back(name, &t);
    const fs::path tmp = dir_ / "tmp.safetensors";
    WriteSafetensors(tmp, refs, SafetensorsDtype::kF32);
    fs::rename(tmp, dir_ / "model.safetensors");
  }

  void EditConfig(const std::function<void(json&)>& edit) {
    json j = ReadJson(dir_ / "config.json");
    edit(j);
    WriteJson(dir_ / "config.json", j);
  }

  std::string LoadError() {
    return ErrorOf([&] { LoadHfModel(dir_); });
  }

  test::TempDir tmp_;
  Model model_;
  fs::path dir_;
};

TEST_F(HfModelLoaderErrors, MissingTensor) {
  RewriteWeights([](auto& ts) {
    std::erase_if(ts, [](const auto& t) { return t.first == "model.layers.1.mlp.up_proj.weight"; });
  });
  const std::string msg = LoadError();
  EXPECT_THAT(msg, HasSubstr("model.safetensors"));
  EXPECT_THAT(msg, HasSubstr("missing tensor 'model.layers.1.mlp.up_proj.weight'"));
}

TEST_F(HfModelLoaderErrors, WrongShape) {
  RewriteWeights([](auto& ts) {
    for (auto& [name, t] : ts) {
      if (name == "model.layers.0.self_attn.k_proj.weight") std::swap(t.shape[0], t.shape[1]);
    }
  });
  const std::string msg = LoadError();
  EXPECT_THAT(msg, HasSubstr("model.safetensors"));
  EXPECT_THAT(msg, HasSubstr("'model.layers.0.self_attn.k_proj.weight'"));
  EXPECT_THAT(msg, HasSubstr("[64, 32], expected [32, 64]"));
}

TEST_F(HfModelLoaderErrors, UntiedModelNeedsLmHead) {
  RewriteWeights([](auto& ts) {
    std::erase_if(ts, [](const auto& t) { return t.first == "lm_head.weight"; });
  });
  EXPECT_THAT(LoadError(), HasSubstr("'lm_head.weight'"));
  // Declaring the embeddings tied makes the same files load.
  EditConfig([](json& j) { j["tie_word_embeddings"] = true; });
  EXPECT_TRUE(LoadHfModel(dir_).weights.output.empty());
}

TEST_F(HfModelLoaderErrors, ConfigWrongTypes) {
  const std::vector<std::pair<std::string, json>> cases = {
      {"hidden_size", "64"},
      {"num_attention_heads", 4.5},
      {"rms_norm_eps", "tiny"},
      {"tie_word_embeddings", 1},
      {"model_type", 7},
      {"rope_scaling", "linear"},
      {"num_key_value_heads", json::array({2})},
  };
  const json original = ReadJson(dir_ / "config.json");
  for (const auto& [key, value] : cases) {
    json j = original;
    j[key] = value;
    WriteJson(dir_ / "config.json", j);
    const std::string msg = LoadError();
    EXPECT_THAT(msg, HasSubstr("config.json")) << key;
    EXPECT_THAT(msg, HasSubstr(key)) << key;
  }
}

TEST_F(HfModelLoaderErrors, ConfigInconsistentHeads) {
  EditConfig([](json& j) { j["num_key_value_heads"] = 3; });
  std::string msg = LoadError();
  EXPECT_THAT(msg, HasSubstr("config.json"));
  EXPECT_THAT(msg, HasSubstr("num_key_value_heads 3 does not divide num_attention_heads 4"));

  EditConfig([](json& j) {
    j["num_key_value_heads"] = 1;
    j["num_attention_heads"] = 5;
    j.erase("head_dim");
  });
  msg = LoadError();
  EXPECT_THAT(msg, HasSubstr("config.json"));
  EXPECT_THAT(msg, HasSubstr("num_attention_heads 5 does not divide hidden_size 64"));
}

TEST_F(HfModelLoaderErrors, ConfigUnsupportedValues) {
  const std::vector<std::tuple<std::string, json, std::string>> cases = {
      {"model_type", "gpt2", "model_type 'gpt2' is not supported"},
      {"hidden_act", "gelu", "hidden_act 'gelu'"},
      {"rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}, "rope_scaling.rope_type 'yarn'"},
      {"rope_scaling", {{"type", "linear"}}, "rope_scaling.factor is missing"},
      {"vocab_size", 0, "vocab_size"},
  };
  const json original = ReadJson(dir_ / "config.json");
  for (const auto& [key, value, want] : cases) {
    json j = original;
    j[key] = value;
    WriteJson(dir_ / "config.json", j);
    const std::string msg = LoadError();
    EXPECT_THAT(msg, HasSubstr("config.json")) << want;
    EXPECT_THAT(msg, HasSubstr(want));
  }
  json j = original;
  j.erase("model_type");
  WriteJson(dir_ / "config.json", j);
  EXPECT_THAT(LoadError(), HasSubstr("model_type is missing"));
}

TEST_F(HfModelLoaderErrors, BadShardIndex) {
  ExportHfModel(model_, dir_, SafetensorsDtype::kF32, 64 * 1024);
  const fs::path index_path = dir_ / "model.safetensors.index.json";
  const json index = ReadJson(index_path);

  json j = index;
  j["weight_map"]["model.norm.weight"] = "../elsewhere.safetensors";
  WriteJson(index_path, j);
  EXPECT_THAT(LoadError(), HasSubstr("weight_map.model.norm.weight names an invalid shard"));

  j = index;
  j["weight_map"]["model.norm.weight"] = "model-00099-of-00099.safetensors";
  WriteJson(index_path, j);
  EXPECT_THAT(LoadError(), HasSubstr("model-00099-of-00099.safetensors"));

  // The index points at a real shard that does not hold the tensor.
  j = index;
  const std::string other = j["weight_map"]["model.embed_tokens.weight"];
  ASSERT_NE(other, j["weight_map"]["model.norm.weight"].get<std::string>());
  j["weight_map"]["model.norm.weight"] = other;
  WriteJson(index_path, j);
  const std::string msg = LoadError();
  EXPECT_THAT(msg, HasSubstr("'model.norm.weight' is not in its shard"));
  EXPECT_THAT(msg, HasSubstr(other));

  WriteJson(index_path, {{"weight_map", json::array()}});
  EXPECT_THAT(LoadError(), HasSubstr("weight_map"));
}

TEST_F(HfModelLoaderErrors, CorruptSafetensorsNamesTheFile) {
  const fs::path weights = dir_ / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) - 100);
  const std::string msg = LoadError();
  EXPECT_THAT(msg, HasSubstr(weights.string()));
  EXPECT_THAT(msg, HasSubstr("data_offsets"));
}

TEST_F(HfModelLoaderErrors, MissingFiles) {
  fs::remove(dir_ / "model.safetensors");
  EXPECT_THAT(LoadError(), HasSubstr("no model.safetensors"));
  fs::remove(dir_ / "config.json");
  EXPECT_THAT(LoadError(), HasSubstr("config.json"));
  EXPECT_THAT(ErrorOf([&] { LoadHfModel(dir_ / "absent"); }), HasSubstr("not a directory"));
}

TEST_F(HfModelLoaderErrors, GenerationConfigEos) {
  const fs::path gen = dir_ / "generation_config.json";
  WriteJson(gen, {{"eos_token_id", 2}});
  EXPECT_EQ(LoadHfModel(dir_).extra_eos_ids, (std::vector<int32_t>{2}));
  WriteJson(gen, {{"eos_token_id", {2, 0, 2}}});
  EXPECT_EQ(LoadHfModel(dir_).extra_eos_ids, (std::vector<int32_t>{2, 0}));
  WriteJson(gen, {{"eos_token_id", "2"}});
  EXPECT_THAT(LoadError(), HasSubstr("generation_config.json: eos_token_id"));
  WriteJson(gen, {{"eos_token_id", {1, 100000}}});
  EXPECT_THAT(LoadError(), HasSubstr("eos_token_id 100000"));
}

TEST(HfConfig, DefaultsAndSlidingWindow) {
  const json j = {{"model_type", "mistral"}, {"vocab_size", 100},
                  {"hidden_size", 64},       {"intermediate_size", 128},
                  {"num_hidden_layers", 2},  {"num_attention_heads", 8},
                  {"sliding_window", 4096},  {"max_position_embeddings", 32768}};
  const ModelConfig c = HfConfigFromJson(j, "config.json");
  EXPECT_EQ(c.num_kv_heads, 8);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.max_context, 4096);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_theta, 10000.0f);
  EXPECT_TRUE(c.rope_scaling.type.empty());

  json q = j;
  q["model_type"] = "qwen2";
  q["use_sliding_window"] = false;
  q["rope_scaling"] = {{"type", "default"}};
  const ModelConfig qc = HfConfigFromJson(q, "config.json");
  EXPECT_TRUE(qc.attention_bias);
  EXPECT_EQ(qc.max_context, 32768);
  EXPECT_TRUE(qc.rope_scaling.type.empty());
}

TEST(HfConfig, Llama3RopeScaling) {
  const json j = {{"model_type", "llama"},
                  {"vocab_size", 100},
                  {"hidden_size", 64},
                  {"intermediate_size", 128},
                  {"num_hidden_layers", 2},
                  {"num_attention_heads", 4},
                  {"num_key_value_heads", 2},
                  {"head_dim", 32},
                  {"rope_theta", 500000.0},
                  {"rope_scaling",
                   {{"rope_type", "llama3"},
                    {"factor", 8.0},
                    {"low_freq_factor", 1.0},
                    {"high_freq_factor", 4.0},
                    {"original_max_position_embeddings", 8192}}}};
  const ModelConfig c = HfConfigFromJson(j, "config.json");
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.rope_theta, 500000.0f);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 8.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position, 8192);
  ExpectSameConfig(c, HfConfigFromJson(HfConfigToJson(c), "again"));
}

}  // namespace
}  // namespace xq
