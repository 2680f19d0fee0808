// The T5 text encoder as Latte-1 loads it: a transformers folder with config.json and sharded
// safetensors (index json), weights shared with the memory mapping (not copied), spiece tokenizer,
// prompt embeddings cached on disk; `longvid text encode`.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "pipeline/t5_text_encoder.h"
#include "tests/helpers.h"
#include "tests/pipeline/t5_folder.h"
#include "tests/parity.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

const fs::path kText = fs::path(LONGVID_TEST_DATA) / "text";


}  // namespace

TEST_CASE("t5 text encoder loads sharded weights without copying and caches prompt embeddings") {
  test::ScratchDir dir("t5enc");
  auto cfg = test::write_t5_folder(dir / "text_encoder");
  auto enc = load_t5_text_encoder(dir / "text_encoder", kText / "t5_small", at::kCPU);
  CHECK(enc->width() == 32);
  // The same numbers as the model built in memory.
  T5Encoder ref(cfg);
  test::det_fill(*ref);
  auto tok = T5Tokenizer::from_file(kText / "t5_small");
  std::vector<std::string> prompts{"two red squares moving left", "a calm sea", ""};
  at::Tensor got = enc->encode(prompts);
  CHECK(got.sizes() == at::IntArrayRef{3, 120, 32});
  torch::NoGradGuard ng;
  for (int64_t i = 0; i < 3; ++i) {
    auto t = tok.encode(prompts[static_cast<size_t>(i)], 120);
    at::Tensor want = ref->forward(at::tensor(t.ids, at::kLong).view({1, 120}), at::tensor(t.mask, at::kLong).view({1, 120}));
    CHECK(got[i].equal(want[0]));
    CHECK(enc->last_mask()[i].sum().item<int64_t>() == t.length);
  }
  // A cache: the second encoder reads the embeddings instead of computing them.
  auto cache = std::make_shared<PromptEmbeddingCache>(dir / "cache");
  enc->set_cache(cache);
  at::Tensor first = enc->encode(prompts);
  CHECK(enc->cache_hits() == 0);
  auto enc2 = load_t5_text_encoder(dir / "text_encoder", kText / "t5_small", at::kCPU);
  enc2->set_cache(cache);
  at::Tensor again = enc2->encode({prompts[1], "not cached yet"});
  CHECK(enc2->cache_hits() == 1);
  CHECK(again[0].equal(first[1]));
  // Another dtype is another cache key (bf16 embeddings are not served to an fp32 run).
  auto bf = load_t5_text_encoder(dir / "text_encoder", kText / "t5_small", at::kCPU, at::kBFloat16);
  bf->set_cache(cache);
  at::Tensor b16 = bf->encode({prompts[0]});
  CHECK(bf->cache_hits() == 0);
  test::check_parity("bf16 vs fp32", b16[0], first[0], 5e-2);
}

TEST_CASE("t5 text encoder shares the memory-mapped weights") {
  test::ScratchDir dir("t5map");
  test::write_t5_folder(dir / "te");
  StateDict sd = load_sharded_safetensors(dir / "te" / "model.safetensors.index.json");
  T5Encoder m(T5EncoderConfig::from_json_text(read_text_file(dir / "te" / "config.json", "c"), "c"), at::kCPU,
              at::kFloat, /*init=*/false);
  load_t5_encoder(*m, sd, /*share_memory=*/true);
  auto params = m->named_parameters();
  CHECK(params["encoder.block.1.layer.1.DenseReluDense.wo.weight"].data_ptr() ==
        sd.get("encoder.block.1.layer.1.DenseReluDense.wo.weight").data_ptr());
  T5Encoder copied(m->config());
  load_t5_encoder(*copied, sd, /*share_memory=*/false);
  CHECK(copied->named_parameters()["shared.weight"].data_ptr() != sd.get("shared.weight").data_ptr());
  // Bad indexes: a missing shard, a tensor not in its shard.
  {
    auto j = nlohmann::json::parse(read_text_file(dir / "te" / "model.safetensors.index.json", "i"));
    j["weight_map"]["shared.weight"] = "model-00009-of-00002.safetensors";
    std::ofstream(dir / "bad.index.json") << j.dump();
    j["weight_map"]["shared.weight"] = "model-00002-of-00002.safetensors";
    std::ofstream(dir / "bad2.index.json") << j.dump();
  }
  for (const char* f : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"})
    fs::copy_file(dir / "te" / f, dir / f);
  CHECK_THROWS_WITH_AS(load_sharded_safetensors(dir / "bad.index.json"), doctest::Contains("is missing"), Error);
  CHECK_THROWS_WITH_AS(load_sharded_safetensors(dir / "bad2.index.json"), doctest::Contains("not in its shard"), Error);
}

TEST_CASE("text encode CLI writes embeddings and reuses its cache") {
  test::ScratchDir dir("t5cli");
  test::write_t5_folder(dir / "te");
  std::vector<std::string> args{"text", "encode", "--t5", (dir / "te").string(), "--tokenizer",
                                (kText / "t5_small").string(), "-p", "a red square", "-p", "a blue circle",
                                "-o", (dir / "emb.safetensors").string(), "--cache", (dir / "cache").string()};
  auto r = test::run_cli(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("[2, 120, 32]") != std::string::npos);
  CHECK(r.out.find("peak RSS") != std::string::npos);
  auto r2 = test::run_cli(args);
  REQUIRE(r2.exit_code == 0);
  CHECK(r2.out.find("2 from the cache") != std::string::npos);
  auto e = load_checkpoint(dir / "emb.safetensors");
  CHECK(e.get("embeddings").sizes() == at::IntArrayRef{2, 120, 32});
  CHECK(e.get("attention_mask").sizes() == at::IntArrayRef{2, 120});
  auto bad = test::run_cli({"text", "encode", "--t5", (dir / "nope").string(), "--tokenizer",
                            (kText / "t5_small").string(), "-p", "x"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("no such file or folder") != std::string::npos);
  auto both = test::run_cli({"text", "encode", "-p", "x", "--tokenizer", "t"});
  CHECK(both.exit_code == 1);
  CHECK(both.err.find("one of --t5 or --clip") != std::string::npos);
}
