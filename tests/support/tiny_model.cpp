#include "tests/support/tiny_model.h"

#include <cstdio>
#include <random>
#include <set>

#include "tests/support/quantize_ref.h"

namespace xq::test {

namespace {

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

const char* const kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

Tensor RandomTensor(std::vector<int64_t> shape, std::mt19937& rng, float mean, float spread) {
  Tensor t;
  t.shape = std::move(shape);
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  std::uniform_real_distribution<float> dist(mean - spread, mean + spread);
  t.data.resize(n);
  for (float& v : t.data) v = dist(rng);
  return t;
}

}  // namespace

std::string ByteLevelChar(uint8_t b) {
  // Printable Latin-1 bytes stand for themselves; the rest are shifted to U+0100 upwards in
  // byte order, as GPT-2's bytes_to_unicode does.
  auto printable = [](int c) {
    return (c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || (c >= 0xae && c <= 0xff);
  };
  uint32_t cp = b;
  if (!printable(b)) {
    cp = 256;
    for (int c = 0; c < b; ++c) cp += printable(c) ? 0 : 1;
  }
  std::string out;
  AppendUtf8(cp, out);
  return out;
}

TokenizerSpec TinyByteLevelSpec() {
  TokenizerSpec s;
  s.kind = TokenizerKind::kByteLevelBpe;
  s.pre = "smollm";
  auto add = [&](const std::string& text, TokenType type) {
    s.tokens.push_back(text);
    s.types.push_back(type);
    return static_cast<int32_t>(s.tokens.size() - 1);
  };
  s.eos_id = add("<|endoftext|>", TokenType::kControl);
  s.bos_id = add("<|im_start|>", TokenType::kControl);
  s.eot_id = add("<|im_end|>", TokenType::kControl);
  for (int b = 0; b < 256; ++b) add(ByteLevelChar(static_cast<uint8_t>(b)), TokenType::kNormal);
  const std::string sp = ByteLevelChar(' ');  // "Ġ"
  const std::vector<std::pair<std::string, std::string>> merges = {
      {sp, "t"},  {"h", "e"},       {sp + "t", "he"}, {"i", "n"},      {sp, "a"},  {"r", "e"},
      {"o", "n"}, {sp, "s"},        {"e", "r"},       {sp, "w"},       {"a", "t"}, {"e", "n"},
      {"n", "d"}, {sp + "a", "nd"}, {"i", "s"},       {sp, "o"},       {"o", "r"}, {"e", "s"},
      {sp, "c"},  {"in", "g"},      {sp, "h"},        {"l", "l"},      {sp, "b"},  {"a", "r"},
      {"o", "u"}, {sp + "w", "h"},  {sp, "i"},        {sp + "i", "s"}, {"l", "o"}, {sp, "m"},
  };
  std::set<std::string> seen;
  for (const auto& [l, r] : merges) {
    s.merges.push_back(l + " " + r);
    if (seen.insert(l + r).second) add(l + r, TokenType::kNormal);
  }
  add("<tool_call>", TokenType::kUserDefined);
  s.add_bos = false;
  s.chat_template = kChatMl;
  return s;
}

TokenizerSpec TinySentencePieceSpec() {
  TokenizerSpec s;
  s.kind = TokenizerKind::kSentencePieceBpe;
  s.pre = "default";
  auto add = [&](const std::string& text, TokenType type, float score) {
    s.tokens.push_back(text);
    s.types.push_back(type);
    s.scores.push_back(score);
    return static_cast<int32_t>(s.tokens.size() - 1);
  };
  s.unk_id = add("<unk>", TokenType::kUnknown, 0.0f);
  s.bos_id = add("<s>", TokenType::kControl, 0.0f);
  s.eos_id = add("</s>", TokenType::kControl, 0.0f);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    add(name, TokenType::kByte, 0.0f);
  }
  // Merged pieces first (highest scores), then the single characters they are built from, in
  // the order SentencePiece's BPE trainer lays them out.
  const std::vector<std::string> pieces = {"▁t", "he", "▁the", "in", "▁a", "re",   "on", "▁s",
                                           "er", "at", "▁w",   "en", "nd", "▁and", "is", "▁o"};
  const std::vector<std::string> chars = {"▁", "e", "t", "a", "o", "n", "i", "s",
                                          "h", "r", "d", "w", "l", "c", "u", "m"};
  float score = 0.0f;
  for (const auto& p : pieces) add(p, TokenType::kNormal, score -= 1.0f);
  for (const auto& c : chars) add(c, TokenType::kNormal, score -= 1.0f);
  s.add_bos = true;
  s.add_space_prefix = true;
  s.chat_template = kChatMl;
  return s;
}

Model MakeTinyModel(const TinyModelOptions& o) {
  Model m;
  m.source = "tiny-" + o.architecture;
  m.tokenizer = o.sentencepiece ? TinySentencePieceSpec() : TinyByteLevelSpec();
  ModelConfig& c = m.config;
  c.architecture = o.architecture;
  c.name = "tiny-" + o.architecture;
  c.vocab_size = static_cast<int64_t>(m.tokenizer.tokens.size());
  c.hidden_size = o.hidden_size;
  c.intermediate_size = 2 * o.hidden_size;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = o.hidden_size / 4;
  c.max_context = 256;
  c.rms_norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tie_word_embeddings = o.tie_word_embeddings;
  c.attention_bias = o.architecture == "qwen2";

  std::mt19937 rng(o.seed);
  const int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const int64_t ff = c.intermediate_size;
  const float w = 0.08f;  // keeps activations O(1) through two layers
  ModelWeights& mw = m.weights;
  mw.token_embedding = RandomTensor({c.vocab_size, h}, rng, 0.0f, 1.0f);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.attn_norm = RandomTensor({h}, rng, 1.0f, 0.2f);
    l.wq = RandomTensor({q, h}, rng, 0.0f, w);
    l.wk = RandomTensor({kv, h}, rng, 0.0f, w);
    l.wv = RandomTensor({kv, h}, rng, 0.0f, w);
    l.wo = RandomTensor({h, q}, rng, 0.0f, w);
    if (c.attention_bias) {
      l.bq = RandomTensor({q}, rng, 0.0f, 0.1f);
      l.bk = RandomTensor({kv}, rng, 0.0f, 0.1f);
      l.bv = RandomTensor({kv}, rng, 0.0f, 0.1f);
    }
    l.ffn_norm = RandomTensor({h}, rng, 1.0f, 0.2f);
    l.w_gate = RandomTensor({ff, h}, rng, 0.0f, w);
    l.w_up = RandomTensor({ff, h}, rng, 0.0f, w);
    l.w_down = RandomTensor({h, ff}, rng, 0.0f, w);
    mw.layers.push_back(std::move(l));
  }
  mw.output_norm = RandomTensor({h}, rng, 1.0f, 0.2f);
  if (!c.tie_word_embeddings) mw.output = RandomTensor({c.vocab_size, h}, rng, 0.0f, w);
  return m;
}

Model WithQuantizedMatrices(Model m, const std::vector<GgmlType>& types) {
  size_t next = 0;
  auto quantize = [&](Tensor& t) {
    if (t.data.empty()) return;  // an output tied to the embedding
    t.block_type = types[next++ % types.size()];
    t.blocks = QuantizeRow(t.block_type, t.data.data(), static_cast<int64_t>(t.data.size()));
    t.data.clear();
  };
  for (LayerWeights& l : m.weights.layers) {
    for (Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) quantize(*t);
  }
  quantize(m.weights.token_embedding);
  quantize(m.weights.output);
  return m;
}

}  // namespace xq::test
