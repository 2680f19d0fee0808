// The T5 encoder against transformers' T5EncoderModel (fixture: tests/data/gen/gen_t5.py): a reduced
// t5-v1_1 config on deterministic weights, with padding; relative-position buckets; the XXL encoder's
// parameter count.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "backbones/t5_encoder.h"

#include <algorithm>
#include <fstream>
#include "core/checkpoint.h"
#include "core/error.h"
#include "tests/parity.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {
const fs::path kFixture = fs::path(LONGVID_TEST_DATA) / "text" / "t5_encoder_tiny.safetensors";

T5Encoder det_model(const StateDict& fx) {
  T5Encoder m(T5EncoderConfig::from_json_text(fx.metadata.at("config"), "t5 config"));
  test::det_fill(*m);
  m->eval();
  return m;
}
}  // namespace

TEST_CASE("t5 encoder equals transformers T5EncoderModel on deterministic weights") {
  auto fx = load_checkpoint(kFixture);
  T5Encoder m = det_model(fx);
  // The module's names are the transformers names the fixture was filled under.
  auto names = nlohmann::json::parse(fx.metadata.at("parameters")).get<std::vector<std::string>>();
  std::vector<std::string> mine;
  for (const auto& kv : m->named_parameters()) mine.push_back(kv.key());
  std::sort(names.begin(), names.end());
  std::sort(mine.begin(), mine.end());
  CHECK(mine == names);
  torch::NoGradGuard ng;
  at::Tensor out = m->forward(fx.get("input_ids"), fx.get("attention_mask"));
  // The reference's own float32-vs-float64 gap is 1.8e-6 (metadata f32_vs_f64_rel_fro).
  test::check_parity("t5 last_hidden_state", out, fx.get("last_hidden_state"));
  // Padding matters only through the mask: the unpadded row does not depend on the other.
  at::Tensor one = m->forward(fx.get("input_ids").slice(0, 0, 1), fx.get("attention_mask").slice(0, 0, 1));
  test::check_parity("t5 row 0 alone", one, fx.get("last_hidden_state").slice(0, 0, 1));
}

TEST_CASE("t5 relative position buckets follow the reference rule") {
  // num_buckets 32, max_distance 128 (t5-v1_1): 0..7 exact, then log bins, 15 for <= -128 / 31 for >= 128.
  at::Tensor b = t5_relative_position_buckets(1, 300, 32, 128);  // memory - query = 0 .. 299
  CHECK(b[0][0].item<int64_t>() == 0);
  CHECK(b[0][1].item<int64_t>() == 17);   // +1: the positive half starts at 16
  CHECK(b[0][7].item<int64_t>() == 23);
  CHECK(b[0][8].item<int64_t>() == 24);   // first log bin
  CHECK(b[0][299].item<int64_t>() == 31);
  at::Tensor n = t5_relative_position_buckets(300, 1, 32, 128);  // 0 .. -299
  CHECK(n[1][0].item<int64_t>() == 1);
  CHECK(n[299][0].item<int64_t>() == 15);
}

TEST_CASE("t5 v1.1 xxl encoder has the published parameter count and loads tied weights") {
  T5Encoder xxl(T5EncoderConfig::v1_1_xxl(), at::kMeta);
  MESSAGE("t5-v1_1-xxl encoder parameters: ", xxl->num_parameters());
  CHECK(xxl->num_parameters() == 4762310656);  // transformers' count (gen_t5.py metadata)
  auto fx = load_checkpoint(kFixture);
  CHECK(std::to_string(xxl->num_parameters()) == fx.metadata.at("t5_v1_1_xxl_encoder_parameters"));

  T5Encoder m = det_model(fx);
  StateDict sd;
  for (const auto& kv : m->named_parameters()) sd.set(kv.key(), kv.value().detach().clone());
  sd.set("encoder.embed_tokens.weight", sd.get("shared.weight"));
  T5Encoder m2(m->config());
  load_t5_encoder(*m2, sd);
  torch::NoGradGuard ng;
  CHECK(m2->forward(fx.get("input_ids")).equal(m->forward(fx.get("input_ids"))));
  sd.set("encoder.embed_tokens.weight", sd.get("shared.weight") + 1);
  CHECK_THROWS_WITH_AS(load_t5_encoder(*m2, sd), doctest::Contains("differs from shared.weight"), Error);
  CHECK_THROWS_WITH_AS(m->forward(at::full({1, 2}, 500, at::kLong)), doctest::Contains("out of range"), Error);
}

#include "backbones/t5_tokenizer.h"
#include "core/fs.h"
#include "tests/helpers.h"

TEST_CASE("t5 tokenizer equals transformers T5Tokenizer on 1838 prompts") {
  // Fixture: tests/data/gen/gen_t5_tokenizer.py (a small T5-style SentencePiece model; ids from
  // transformers 4.24's sentencepiece-backed T5Tokenizer called as diffusers' LattePipeline does).
  const fs::path dir = fs::path(LONGVID_TEST_DATA) / "text";
  auto tok = T5Tokenizer::from_file(dir / "t5_small");
  CHECK(tok.vocab_size() == 1500);
  auto fx = load_checkpoint(dir / "t5_small_ids.safetensors");
  at::Tensor want = fx.get("input_ids").to(at::kLong), lengths = fx.get("lengths").to(at::kLong);
  auto prompts = nlohmann::json::parse(read_text_file(dir / "prompts.json", "prompts")).get<std::vector<std::string>>();
  REQUIRE(static_cast<int64_t>(prompts.size()) == want.size(0));
  int64_t bad = 0, tie = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto e = tok.encode(prompts[i], 120);
    const auto row = want[static_cast<int64_t>(i)];
    const int64_t len = lengths[static_cast<int64_t>(i)].item<int64_t>();
    bool same = at::tensor(e.ids, at::kLong).equal(row) && e.length == len;
    for (int64_t k = 0; k < 120 && same; ++k) same = e.mask[static_cast<size_t>(k)] == (k < len ? 1 : 0);
    if (!same) {
      // The only known difference: a run of one repeated character whose segmentations into the same
      // pieces score equally; Debian's libsentencepiece 0.1.97 breaks that Viterbi tie the other way
      // than sentencepiece 0.2 (which transformers uses). The pieces must then be a permutation.
      std::vector<int64_t> a(e.ids.begin(), e.ids.begin() + e.length), b;
      for (int64_t k = 0; k < len; ++k) b.push_back(row[k].item<int64_t>());
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      if (a == b) ++tie;
    }
    if (!same && ++bad <= 5)
      MESSAGE("prompt ", i, " differs: ", nlohmann::json(prompts[i]).dump().substr(0, 60), " got ",
              nlohmann::json(std::vector<int64_t>(e.ids.begin(), e.ids.begin() + std::min<int64_t>(e.length + 1, 12))).dump(),
              " want ", row.slice(0, 0, 12));
  }
  MESSAGE("prompts whose ids differ: ", bad, " of ", prompts.size(), ", of which equal-score ties: ", tie);
  CHECK(bad == tie);  // every difference is a tie between the same pieces in another order
  CHECK(bad <= 3);    // measured: 3 (runs of '!', 'a' and '中文')
  // Framing: </s> appended, truncation keeps it last, padding with <pad> 0.
  auto empty = tok.encode("", 120);
  CHECK(empty.length == 1);
  CHECK(empty.ids[0] == 1);
  CHECK(empty.ids[1] == 0);
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "red square ";
  auto l = tok.encode(long_prompt, 120);
  CHECK(l.length == 120);
  CHECK(l.ids.back() == 1);
  test::ScratchDir tmp("t5tok");
  {
    std::ofstream(tmp / "spiece.model") << "not a model";
  }
  CHECK_THROWS_WITH_AS(T5Tokenizer::from_file(tmp / "spiece.model"), doctest::Contains("not a SentencePiece model"),
                       Error);
  CHECK_THROWS_WITH_AS(T5Tokenizer::from_file(tmp / "missing.model"), doctest::Contains("missing.model"), Error);
}
