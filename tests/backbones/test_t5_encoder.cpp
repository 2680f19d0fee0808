// The T5 encoder against transformers' T5EncoderModel (fixture: tests/data/gen/gen_t5.py): a reduced
// t5-v1_1 config on deterministic weights, with padding; relative-position buckets; the XXL encoder's
// parameter count.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "backbones/t5_encoder.h"
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
