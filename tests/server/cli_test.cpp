// Drives the real `xquant` binary: generate streams only the completion to stdout, greedy output
// is the model's, seeds make sampling reproducible, and bad input fails with a clear message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/support/skip_or_fail.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout only; stderr goes to err_file
  std::string err;
};

CliRun Xquant(const std::string& args) {
  const std::string err_file =
      std::filesystem::temp_directory_path() / ("xq-cli-" + std::to_string(::getpid()) + ".err");
  const std::string cmd = std::string(XQ_BINARY) + " " + args + " 2>" + err_file;
  CliRun r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* f = std::fopen(err_file.c_str(), "r")) {
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) r.err.append(buf.data(), n);
    std::fclose(f);
  }
  std::filesystem::remove(err_file);
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(XQ_DEFAULT_MODEL)) {
      XQ_SKIP_OR_FAIL() << "default model missing: run `make model` (" XQ_DEFAULT_MODEL ")";
    }
  }
  const std::string model_ = std::string("--model ") + XQ_DEFAULT_MODEL;
};

TEST_F(CliTest, GreedyChatPrintsOnlyTheAnswer) {
  const CliRun r = Xquant("generate " + model_ +
                          " --chat --prompt 'What is the capital of Germany?' --max-tokens 32 "
                          "--temperature 0 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "The capital of Germany is Berlin.");  // llama.cpp's greedy answer too
  EXPECT_THAT(r.err, HasSubstr("generated"));             // the timing line is a log, on stderr
}

TEST_F(CliTest, SeedMakesSamplingReproducible) {
  const std::string args = "generate " + model_ +
                           " --prompt 'Once upon a time' --max-tokens 24 --temperature 1.0 "
                           "--top-k 0 --top-p 1 --min-p 0 --threads 2 --seed ";
  const CliRun a = Xquant(args + "7"), b = Xquant(args + "7"), c = Xquant(args + "8");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out) << "different seeds drew the same 24 tokens at temperature 1";
}

TEST_F(CliTest, BadInputFailsWithAClearMessage) {
  CliRun r = Xquant("generate --model /nonexistent.gguf --prompt hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent.gguf"));
  EXPECT_TRUE(r.out.empty());

  r = Xquant("generate " + model_ + " --prompt hi --temperature -1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--temperature"));

  r = Xquant("generate " + model_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--prompt"));

  const std::string not_gguf = std::string(XQ_SOURCE_DIR) + "/README.md";
  r = Xquant("generate --model " + not_gguf + " --prompt hi");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("bad magic"));
}

TEST_F(CliTest, BenchPrintsOneJsonLine) {
  const CliRun r =
      Xquant("bench " + model_ + " --prefill-tokens 32 --decode-tokens 4 --repeats 1 --threads 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"prefill_tps\""));
  EXPECT_THAT(r.out, HasSubstr("\"decode_tps\""));
  EXPECT_THAT(r.out, Not(HasSubstr("[info]")));
}

// Random weights in a config's shape: the benchmark runs with no model file; giving both or
// neither source is an error naming the flags.
TEST_F(CliTest, BenchRunsASyntheticModel) {
  const std::string config = std::string(XQ_SOURCE_DIR) + "/configs/synthetic/smollm2-135m.json";
  CliRun r = Xquant("bench --synthetic-model " + config +
                    " --prefill-tokens 16 --decode-tokens 4 --repeats 1 --threads 2 --device cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"device\":\"cpu\""));
  EXPECT_THAT(r.out, HasSubstr("\"decode_tps\""));
  EXPECT_THAT(r.err, HasSubstr("synthetic model"));

  r = Xquant("bench --prefill-tokens 16");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("give --model or --synthetic-model"));
  r = Xquant("bench " + model_ + " --synthetic-model " + config);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("excludes"));
}

// A generous budget is met by the first batch of the cheapest candidates: the written profile
// loads (eval runs it) and says what was measured; a text too short to score is refused.
TEST_F(CliTest, TuneWritesAProfileThatLoads) {
  const std::string text = "/usr/share/common-licenses/GPL-3";
  const std::string out =
      std::filesystem::temp_directory_path() / ("xq-tuned-" + std::to_string(::getpid()) + ".json");
  CliRun r = Xquant("tune " + model_ + " --text " + text + " --max-tokens 256 --max-kl 5" +
                    " --threads 2 --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("wrote " + out));
  r = Xquant("eval " + model_ + " --text " + text + " --max-tokens 256 --threads 2 --json" +
             " --kv-profile " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"kl_vs_fp16\""));
  std::filesystem::remove(out);

  r = Xquant("tune " + model_ + " --text " + text + " --max-tokens 100 --threads 2 --out " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--text"));
  EXPECT_FALSE(std::filesystem::exists(out));
}

// The key-layer search on the real model, from xquant-1.5 itself: every layer measured one width
// up and down, and the written profile loads, costs no more than its start and says how it was
// found. (About 75 forward passes of 256 tokens: the slowest CLI test.)
TEST_F(CliTest, TuneSearchesKeyBitsPerLayerFromTheBase) {
  const std::string text = "/usr/share/common-licenses/GPL-3";
  const std::string out = std::filesystem::temp_directory_path() /
                          ("xq-tuned-layers-" + std::to_string(::getpid()) + ".json");
  CliRun r = Xquant("tune " + model_ + " --text " + text + " --max-tokens 256 --max-kl 5" +
                    " --threads 2 --skip-grid --search-key-layers --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("key layers from xquant-1.5"));
  for (const char* layer : {"  L0   2-bit", "  L18  2-bit", "  L29  2-bit"}) {
    EXPECT_THAT(r.out, HasSubstr(layer));
  }
  EXPECT_THAT(r.out, HasSubstr("wrote " + out));
  std::ifstream written(out);
  const std::string profile{std::istreambuf_iterator<char>(written), {}};
  EXPECT_THAT(profile, HasSubstr("searched (--search-key-layers)"));  // in its description
  r = Xquant("eval " + model_ + " --text " + text + " --max-tokens 256 --threads 2 --json" +
             " --kv-profile " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"eq_bits\":1.5"));  // key bits moved, not added
  std::filesystem::remove(out);
}

}  // namespace
