// A text-conditioned frame-mask model trained here (`longvid train --text-encoder`): captions from
// the synthetic truth, a CLIP-style text encoder trained jointly, resume, export with its tokenizer,
// and `generate -p` / prompt schedules through the long-video hierarchy.
#include <doctest/doctest.h>

#include "backbones/clip_tokenizer.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/fs.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> train_args(const test::ScratchDir& d, const std::string& run, int steps) {
  return {"train", "--data", (d / "data").string(), "--ae", "random", "--latent-cache", (d / "cache.safetensors").string(),
          "-o", (d / run).string(), "--frames", "16", "--size", "32", "--steps", std::to_string(steps), "--batch", "2",
          "--lr", "1e-3", "--seed", "1", "--save-every", "100", "--text-encoder", "tiny", "--ema", "0.9"};
}

std::vector<std::string> gen_args(const fs::path& model, const fs::path& out) {
  return {"generate", "--model", model.string(), "--frames", "32", "--steps", "2", "--seed", "4", "-o", out.string()};
}

std::vector<std::string> with(std::vector<std::string> a, std::initializer_list<std::string> more) {
  a.insert(a.end(), more);
  return a;
}

}  // namespace

TEST_CASE("train text model: resume, export with its tokenizer, generate with prompts and schedules") {
  test::ScopedEnv threads("OMP_NUM_THREADS", "1");
  test::ScratchDir d("train-text");
  auto syn = test::run_cli({"synth", "-o", (d / "data").string(), "--videos", "3", "--frames", "24", "--size", "32",
                            "--seed", "2", "--sprites", "1-2", "--format", "y4m"});
  INFO(syn.err);
  REQUIRE(syn.exit_code == 0);

  auto full = test::run_cli(train_args(d, "full", 3));
  INFO(full.err);
  REQUIRE(full.exit_code == 0);
  CHECK(full.err.find("text encoder: CLIP-style, width 128") != std::string::npos);
  auto part = test::run_cli(with(train_args(d, "part", 3), {"--stop-after", "1"}));
  REQUIRE(part.exit_code == 0);
  auto rest = test::run_cli(with(train_args(d, "part", 3), {"--resume"}));
  INFO(rest.err);
  REQUIRE(rest.exit_code == 0);
  {
    auto a = load_checkpoint(d / "full" / "model.safetensors"), b = load_checkpoint(d / "part" / "model.safetensors");
    REQUIRE(a.keys() == b.keys());
    int text_keys = 0;
    for (const auto& k : a.keys()) {
      INFO(k);
      CHECK(a.get(k).equal(b.get(k)));
      text_keys += k.rfind("cond_stage_model.transformer.text_model.", 0) == 0;
    }
    CHECK(text_keys > 10);
    CHECK(a.contains("model_ema.cond_stage_modeltransformertext_modelfinal_layer_normweight"));
    Config cfg = Config::parse_json(a.metadata.at("longvid.config"), "model");
    CHECK(cfg.get<bool>("model.params.cond_stage_trainable"));
    CHECK(cfg.get<int64_t>("model.params.unet_config.params.context_dim") == 128);
    // The tokenizer was trained on the captions and is what the encoder's embedding was sized by.
    auto tok = ClipTokenizer::from_dir(d / "full" / "tokenizer");
    CHECK(tok.vocab_size() == a.get("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight").size(0));
    CHECK(tok.encode_tokens("squares").size() == 1);
  }

  fs::create_directories(d / "exp");
  auto ex = test::run_cli({"export", (d / "full").string(), "-o", (d / "exp" / "model.safetensors").string()});
  INFO(ex.err);
  REQUIRE(ex.exit_code == 0);
  CHECK(fs::exists(d / "exp" / "tokenizer" / "vocab.json"));
  CHECK(fs::exists(d / "exp" / "tokenizer" / "merges.txt"));
  const fs::path model = d / "exp" / "model.safetensors";

  auto red = test::run_cli(with(gen_args(model, d / "red.y4m"), {"-p", "a red disc moving left"}));
  INFO(red.err);
  REQUIRE(red.exit_code == 0);
  CHECK(red.err.find("prompt \"a red disc moving left\"") != std::string::npos);
  auto red2 = test::run_cli(with(gen_args(model, d / "red2.y4m"), {"-p", "a red disc moving left"}));
  REQUIRE(red2.exit_code == 0);
  CHECK(read_text_file(d / "red.y4m") == read_text_file(d / "red2.y4m"));
  auto blue = test::run_cli(with(gen_args(model, d / "blue.y4m"), {"-p", "two blue squares"}));
  REQUIRE(blue.exit_code == 0);
  CHECK(read_text_file(d / "red.y4m") != read_text_file(d / "blue.y4m"));
  auto nocfg = test::run_cli(with(gen_args(model, d / "nocfg.y4m"), {"-p", "a red disc moving left", "--cfg-scale", "1"}));
  REQUIRE(nocfg.exit_code == 0);
  CHECK(read_text_file(d / "red.y4m") != read_text_file(d / "nocfg.y4m"));

  // A schedule holding one prompt is that prompt; a schedule of two differs from both.
  write_text_atomically(d / "one.txt", "0: a red disc moving left\n");
  auto one = test::run_cli(with(gen_args(model, d / "one.y4m"), {"--prompt-file", (d / "one.txt").string()}));
  INFO(one.err);
  REQUIRE(one.exit_code == 0);
  CHECK(read_text_file(d / "one.y4m") == read_text_file(d / "red.y4m"));
  write_text_atomically(d / "two.txt", "0: a red disc moving left\n16: two blue squares\n");
  auto two = test::run_cli(with(gen_args(model, d / "two.y4m"), {"--prompt-file", (d / "two.txt").string()}));
  INFO(two.err);
  REQUIRE(two.exit_code == 0);
  CHECK(two.err.find("prompt schedule of 2 prompts") != std::string::npos);
  CHECK(read_text_file(d / "two.y4m") != read_text_file(d / "red.y4m"));
  CHECK(read_text_file(d / "two.y4m") != read_text_file(d / "blue.y4m"));

  // An interpolation model without text may fill the gaps of a text model's keyframes (its clips get
  // no context); the other way round is refused with one line.
  auto plain_run = train_args(d, "plain", 2);
  plain_run.erase(plain_run.end() - 4, plain_run.end() - 2);  // no --text-encoder tiny
  auto plain = test::run_cli(plain_run);
  INFO(plain.err);
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.err.find("text encoder") == std::string::npos);
  const fs::path plain_model = d / "plain" / "model.safetensors";
  auto mixed = test::run_cli(with(gen_args(model, d / "mixed.y4m"),
                                  {"-p", "a red disc moving left", "--interp-model", plain_model.string()}));
  INFO(mixed.err);
  REQUIRE(mixed.exit_code == 0);
  CHECK(mixed.err.find("loaded interpolation model") != std::string::npos);
  CHECK(read_text_file(d / "mixed.y4m").size() == read_text_file(d / "red.y4m").size());
  CHECK(read_text_file(d / "mixed.y4m") != read_text_file(d / "red.y4m"));
  auto reversed = test::run_cli(with(gen_args(plain_model, d / "rev.y4m"), {"--interp-model", model.string()}));
  CHECK(reversed.exit_code == 1);
  CHECK(reversed.err.find("the interpolation model attends to a 128-wide text context while the prediction model "
                          "takes none") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "rev.y4m"));

  // Bad input: one line each, nothing written.
  write_text_atomically(d / "bad.txt", "0: a red disc\n0: a blue disc\n");
  auto bad = test::run_cli(with(gen_args(model, d / "bad.y4m"), {"--prompt-file", (d / "bad.txt").string()}));
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("does not come after frame 0") != std::string::npos);
  write_text_atomically(d / "late.txt", "8: a red disc\n");
  auto late = test::run_cli(with(gen_args(model, d / "late.y4m"), {"--prompt-file", (d / "late.txt").string()}));
  CHECK(late.exit_code == 1);
  CHECK(late.err.find("must start at frame 0") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "bad.y4m"));
  auto no_text = test::run_cli(with(gen_args("random", d / "r.y4m"), {"--prompt-file", (d / "two.txt").string()}));
  CHECK(no_text.exit_code == 1);
  CHECK(no_text.err.find("takes no text") != std::string::npos);
  auto pixels = test::run_cli(with(train_args(d, "pix", 1), {"--latent-cache", ""}));
  CHECK(pixels.exit_code == 1);
  CHECK(pixels.err.find("latent cache") != std::string::npos);
}
