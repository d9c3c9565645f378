// ChatTemplate against jinja2: tests/fixtures/chat_templates.json holds what jinja2 (configured as
// transformers configures it) rendered for real models' templates, the default model's template
// and the builtins; see scripts/fixtures/gen_chat_template_fixtures.py.
#include "engine/tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/common/error.h"
#include "tests/support/skip_or_fail.h"

namespace xq {
namespace {

using nlohmann::json;

const std::string kSourceDir = XQ_SOURCE_DIR;

const json& Fixture() {
  static const json fixture = [] {
    std::ifstream in(kSourceDir + "/tests/fixtures/chat_templates.json");
    if (!in) throw std::runtime_error("missing tests/fixtures/chat_templates.json");
    return json::parse(in);
  }();
  return fixture;
}

std::string SuiteName(const json& suite) {
  if (suite.contains("template_file")) return suite["template_file"].get<std::string>();
  if (suite.contains("builtin")) return "builtin_" + suite["builtin"].get<std::string>();
  return suite["template_name"].get<std::string>();
}

std::vector<ChatMessage> Conversation(const std::string& name) {
  std::vector<ChatMessage> out;
  for (const json& m : Fixture()["conversations"][name]) {
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

std::string Render(const std::string& source, const std::vector<ChatMessage>& messages,
                   bool add_generation_prompt = true) {
  ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.bos_token = "<BOS>";
  options.eos_token = "<EOS>";
  return ChatTemplate(source).Apply(messages, options);
}

std::string Render(const std::string& source) { return Render(source, {}); }

std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class JinjaGoldenTest : public ::testing::TestWithParam<size_t> {};

TEST_P(JinjaGoldenTest, MatchesJinja2) {
  const json& suite = Fixture()["suites"][GetParam()];
  std::string source;
  if (suite.contains("template_file")) {
    std::filesystem::path path =
        kSourceDir + "/models/llamacpp/templates/" + suite["template_file"].get<std::string>();
    std::ifstream in(path);
    if (!in) XQ_SKIP_OR_FAIL() << "missing " << path << " (fetch it with `make model`)";
    std::stringstream ss;
    ss << in.rdbuf();
    source = ss.str();
  } else if (suite.contains("builtin")) {
    source = ChatTemplate::BuiltinSource(suite["builtin"].get<std::string>());
  } else {
    source = suite["template"].get<std::string>();
  }
  ChatTemplate tpl(source);
  for (const json& c : suite["cases"]) {
    ChatTemplateOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    options.bos_token = Fixture()["bos_token"].get<std::string>();
    options.eos_token = Fixture()["eos_token"].get<std::string>();
    options.now = Fixture()["fixed_now"].get<std::time_t>();
    const std::string conversation = c["conversation"].get<std::string>();
    SCOPED_TRACE(conversation + (options.add_generation_prompt ? " +gen" : " -gen"));
    if (c.contains("error")) {
      std::string err = ErrorOf([&] { tpl.Apply(Conversation(conversation), options); });
      EXPECT_NE(err.find(c["error"].get<std::string>()), std::string::npos) << err;
    } else {
      EXPECT_EQ(tpl.Apply(Conversation(conversation), options), c["expected"].get<std::string>());
    }
  }
}

std::vector<size_t> SuiteIndices() {
  std::vector<size_t> out(Fixture()["suites"].size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

INSTANTIATE_TEST_SUITE_P(Templates, JinjaGoldenTest, ::testing::ValuesIn(SuiteIndices()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           std::string name = SuiteName(Fixture()["suites"][info.param]);
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ChatTemplateTest, GoldensCoverTheRequiredTemplates) {
  std::set<std::string> names;
  for (const json& suite : Fixture()["suites"]) names.insert(SuiteName(suite));
  for (const char* required :
       {"Qwen-Qwen2.5-7B-Instruct.jinja", "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "meta-llama-Llama-3.2-3B-Instruct.jinja", "microsoft-Phi-3.5-mini-instruct.jinja",
        "google-gemma-2-2b-it.jinja", "mistralai-Mistral-Nemo-Instruct-2407.jinja",
        "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "HuggingFaceTB-SmolLM3-3B.jinja",
        "ibm-granite-granite-3.3-2B-Instruct.jinja", "SmolLM2-135M-Instruct", "builtin_chatml",
        "builtin_llama2", "builtin_llama3", "builtin_mistral", "builtin_qwen2", "builtin_gemma",
        "builtin_phi3"}) {
    EXPECT_TRUE(names.count(required)) << required;
  }
}

TEST(ChatTemplateTest, Expressions) {
  EXPECT_EQ(Render("{{ 1 + 2 * 3 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}"),
            "7|3|-4|2|3.5");
  EXPECT_EQ(Render("{{ 2 ** 10 }}|{{ 1.5 + 1 }}|{{ 'ab' * 2 }}|{{ 1 ~ 'x' ~ none }}"),
            "1024|2.5|abab|1xNone");
  EXPECT_EQ(Render("{{ 'a' + 'b' | upper }}"), "aB");  // filters bind tighter than +
  EXPECT_EQ(Render("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 'b' in 'abc' }}{{ 4 not in [1, 2] }}"),
            "TrueFalseTrueTrue");
  EXPECT_EQ(Render("{{ none or 'x' }}|{{ 0 and 1 }}|{{ not [] }}|{{ 1 if false }}|"
                   "{{ 'y' if 0 else 'n' }}"),
            "x|0|True||n");
  EXPECT_EQ(Render("{{ [1, 'a', none, true, 1.0, {'k': (1,)}] }}"),
            "[1, 'a', None, True, 1.0, {'k': (1,)}]");
  EXPECT_EQ(Render("{{ \"it's\" }}{{ 'tab\\there\\u00e9\\x41' }}"), "it'stab\thereéA");
  EXPECT_EQ(Render("{{ 'a' 'b' }}"), "ab");  // adjacent literals concatenate
}

TEST(ChatTemplateTest, SubscriptsSlicesAndMethods) {
  EXPECT_EQ(Render("{{ [1,2,3,4][1:] }}{{ [1,2,3][::-1] }}{{ [1,2,3][-1] }}{{ 'héllo'[::-1] }}"
                   "{{ 'héllo'[1] }}{{ 'abc'[-2:] }}{{ [1,2][5] }}"),
            "[2, 3, 4][3, 2, 1]3olléhébc");
  EXPECT_EQ(Render("{{ '  x  '.strip() }}|{{ 'xxay'.lstrip('x') }}|{{ 'a b  c'.split() }}|"
                   "{{ 'a,b'.split(',') }}|{{ 'hello world'.title() }}|{{ 'ab'.upper() }}"),
            "x|ay|['a', 'b', 'c']|['a', 'b']|Hello World|AB");
  EXPECT_EQ(Render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}"
                   "{{ 'aaa'.replace('a', 'b', 2) }}{{ '{} and {x}'.format(1, x=2) }}"),
            "TrueTruebba1 and 2");
  EXPECT_EQ(Render("{% set d = {'a': 1, 'b': 2} %}{{ d.a }}{{ d['b'] }}{{ d.get('c', 9) }}"
                   "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}"),
            "129a=1;b=2;['a', 'b']");
}

TEST(ChatTemplateTest, FiltersAndTests) {
  EXPECT_EQ(Render("{{ ' x ' | trim }}|{{ [1,2] | length }}|{{ 'héllo' | length }}|"
                   "{{ undefined_name | default('d') }}|{{ '' | default('d', true) }}|"
                   "{{ [3,1,2] | sort | join(',') }}|{{ [1,2] | first }}{{ [1,2] | last }}"),
            "x|2|5|d|d|1,2,3|12");
  EXPECT_EQ(Render("{{ {'b': [1, 2], 'a': 'é\"\\n'} | tojson }}"),
            "{\"b\": [1, 2], \"a\": \"é\\\"\\n\"}");
  EXPECT_EQ(Render("{{ {'a': [1], 'b': {}} | tojson(indent=2) }}"),
            "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(Render("{% set xs = [{'r': 'u', 'n': 1}, {'r': 'a', 'n': 2}, {'r': 'u', 'n': 3}] %}"
                   "{{ xs | selectattr('r', 'equalto', 'u') | map(attribute='n') | list }}"
                   "{{ xs | rejectattr('r', 'eq', 'u') | map(attribute='n') | list }}"
                   "{{ [1, 2, 3, 4] | select('even') | list }}{{ '5' | int + 1 }}"),
            "[1, 3][2][2, 4]6");
  EXPECT_EQ(
      Render("{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ {} is mapping }}"
             "{{ 1 is number }}{{ 3 is divisibleby 3 }}{{ 2 is not odd }}{{ x is iterable }}"),
      "FalseTrueTrueTrueTrueTrueTrueTrue");
}

TEST(ChatTemplateTest, ControlFlowAndScoping) {
  EXPECT_EQ(Render("{% for x in [1,2,3,4] if x is even %}{{ loop.index }}/{{ loop.length }}:{{ x }}"
                   "{% if not loop.last %},{% endif %}{% endfor %}"),
            "1/2:2,2/2:4");
  // A set inside a loop is scoped to the iteration; namespace() carries state out.
  EXPECT_EQ(
      Render("{% set x = 1 %}{% set ns = namespace(n=0) %}{% for i in [1,2] %}{{ x }}"
             "{% set x = i * 10 %}{{ x }},{% set ns.n = ns.n + i %}{% endfor %}{{ x }}|{{ ns.n }}"),
      "110,120,1|3");
  EXPECT_EQ(Render("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}"
                   "{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}"
                   "{% for i in [] %}x{% else %}empty{% endfor %}"),
            "02empty");
  EXPECT_EQ(Render("{% macro tag(name, body='-') %}<{{ name }}>{{ body }}{% endmacro %}"
                   "{{ tag('a') }}{{ tag('b', body='x') }}{% set c %}cap{{ 1 }}{% endset %}{{ c }}"
                   "{% filter upper %}up{% endfilter %}"),
            "<a>-<b>xcap1UP");
}

TEST(ChatTemplateTest, WhitespaceControlMatchesTransformers) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks drops its indentation.
  EXPECT_EQ(Render("<{% if true %}\n    a\n    {% endif %}\n>"), "<    a\n>");
  EXPECT_EQ(Render("a  {{- ' b ' -}}  \n c"), "a b c");
  EXPECT_EQ(Render("a\n  {%- if true -%}\n  b  {%+ endif %}\n"), "ab  ");
  EXPECT_EQ(Render("x {# comment #}\n  {#- c -#}  y"), "x y");
  EXPECT_EQ(Render("{% raw %}{{ not rendered }}{% endraw %}"), "{{ not rendered }}");
  EXPECT_EQ(Render("line\n"), "line");  // jinja2 drops one trailing newline
}

TEST(ChatTemplateTest, RendersMessagesAndOptions) {
  const std::string src = ChatTemplate::BuiltinSource("chatml");
  std::vector<ChatMessage> msgs = {{"system", "S"}, {"user", "U"}};
  EXPECT_EQ(Render(src, msgs, true),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(Render(src, msgs, false),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n");
  EXPECT_EQ(
      Render("{{ bos_token }}{{ eos_token }}{{ tools is none }}{{ messages | length }}", msgs),
      "<BOS><EOS>True2");
  ChatTemplateOptions options;
  options.now = 1721995200;
  EXPECT_EQ(ChatTemplate("{{ strftime_now('%Y') }}").Apply({}, options), "2024");
}

TEST(ChatTemplateTest, ErrorsAreClear) {
  EXPECT_NE(ErrorOf([] { ChatTemplate("a\n{% if x %}"); }).find("line 2"), std::string::npos);
  EXPECT_NE(ErrorOf([] { ChatTemplate("{% if x %}"); }).find("endif"), std::string::npos);
  EXPECT_NE(ErrorOf([] { ChatTemplate("{{ 1 + }}"); }).find("expected an expression"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ChatTemplate("{% include 'x' %}"); }).find("unknown or unsupported tag"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ChatTemplate("{{ 'abc }}"); }).find("unterminated string"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ChatTemplate("{# never closed"); }).find("unterminated comment"),
            std::string::npos);
  std::string raised = ErrorOf([] { Render("ok\n{{ raise_exception('Roles must alternate') }}"); });
  EXPECT_NE(raised.find("Roles must alternate"), std::string::npos) << raised;
  EXPECT_NE(raised.find("line 2"), std::string::npos) << raised;
  EXPECT_NE(ErrorOf([] { Render("{{ 'a' + 1 }}"); }).find("can only concatenate str"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { Render("{{ missing.attr }}"); }).find("'missing' is undefined"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { Render("{{ 1 | no_such_filter }}"); }).find("unknown filter"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] {
              Render("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}");
            }).find("recursed too deeply"),
            std::string::npos);
  EXPECT_NE(ErrorOf([] { ChatTemplate::BuiltinSource("nope"); }).find("chatml"), std::string::npos);
}

}  // namespace
}  // namespace xq
