// The CLIP BPE tokenizer and text tower against transformers (fixtures: tests/data/gen/gen_clip_text.py):
// token ids of 1,838 prompts (Unicode, emoji, punctuation, numbers, long and empty prompts) equal
// CLIPTokenizer's with padding / truncation at 77; the text model on deterministic weights equals
// CLIPTextModel (last_hidden_state, pooled output, penultimate mode) within 1e-5 relative.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "backbones/clip_text.h"
#include "backbones/clip_tokenizer.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "pipeline/clip_text_encoder.h"
#include "tests/helpers.h"
#include "tests/parity.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

const fs::path kText = fs::path(LONGVID_TEST_DATA) / "text";

std::vector<std::string> prompts() {
  auto j = nlohmann::json::parse(read_text_file(kText / "prompts.json", "prompts"));
  return j.get<std::vector<std::string>>();
}

// Compares every prompt's ids with the fixture; returns the number of prompts that differ and
// prints the first few.
int64_t tokenizer_mismatches(const ClipTokenizer& tok, const fs::path& ids_file) {
  auto sd = load_checkpoint(ids_file);
  at::Tensor want = sd.get("input_ids").to(at::kLong), lengths = sd.get("lengths").to(at::kLong);
  auto ps = prompts();
  REQUIRE(static_cast<int64_t>(ps.size()) == want.size(0));
  int64_t bad = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    auto got = tok.encode(ps[i], 77);
    at::Tensor g = at::tensor(got.ids, at::kLong);
    if (!g.equal(want[static_cast<int64_t>(i)]) || got.length != lengths[static_cast<int64_t>(i)].item<int64_t>()) {
      if (++bad <= 5) {
        std::ostringstream os;
        os << "prompt " << i << " " << nlohmann::json(ps[i]).dump() << "\n got  " << g.slice(0, 0, 20)
           << "\n want " << want[static_cast<int64_t>(i)].slice(0, 0, 20);
        MESSAGE(os.str());
      }
    }
  }
  return bad;
}

}  // namespace

TEST_CASE("clip tokenizer equals transformers CLIPTokenizer on 1838 prompts") {
  auto tok = ClipTokenizer::from_dir(kText / "clip_small");
  CHECK(tok.vocab_size() == 6514);
  CHECK(tok.bos_id() == 6512);
  CHECK(tok.eos_id() == 6513);
  CHECK(tok.pad_id() == 6513);
  const int64_t bad = tokenizer_mismatches(tok, kText / "clip_small_ids.safetensors");
  MESSAGE("prompts whose ids differ: ", bad, " of ", prompts().size());
  CHECK(bad == 0);
}

TEST_CASE("clip tokenizer from openai merges equals the vocab json form") {
  // The small merges.txt has openai's layout (a header line, then merges): the vocabulary rebuilt as
  // SimpleTokenizer does must give the same ids as vocab.json.
  auto a = ClipTokenizer::from_dir(kText / "clip_small");
  auto b = ClipTokenizer::from_openai_merges(kText / "clip_small" / "merges.txt", 6000);
  CHECK(b.vocab_size() == a.vocab_size());
  for (const auto& p : prompts()) {
    auto x = a.encode(p), y = b.encode(p);
    if (x.ids != y.ids) {
      FAIL_CHECK("differs on " << nlohmann::json(p).dump());
      break;
    }
  }
}

TEST_CASE("clip tokenizer full vocabulary parity (opt-in LONGVID_CLIP_VOCAB)") {
  // LONGVID_CLIP_VOCAB: a folder with the full vocab.json + merges.txt (49,408 tokens) and
  // clip_full_ids.safetensors from tests/data/gen/gen_clip_text.py.
  const char* dir = std::getenv("LONGVID_CLIP_VOCAB");
  if (!dir) {
    test::report_skipped("set LONGVID_CLIP_VOCAB to the folder gen_clip_text.py writes (full CLIP vocabulary)");
    return;
  }
  auto tok = ClipTokenizer::from_dir(dir);
  CHECK(tok.vocab_size() == 49408);
  CHECK(tok.bos_id() == 49406);
  CHECK(tok.eos_id() == 49407);
  const int64_t bad = tokenizer_mismatches(tok, fs::path(dir) / "clip_full_ids.safetensors");
  MESSAGE("prompts whose ids differ (full vocabulary): ", bad);
  CHECK(bad == 0);
}

TEST_CASE("clip tokenizer basics and bad files") {
  auto tok = ClipTokenizer::from_dir(kText / "clip_small");
  CHECK(ClipTokenizer::normalize("  A\t\tB\u00a0C ") == " a b c ");
  CHECK(tok.pre_tokenize("it's a dog's 3.14 day!!") ==
        std::vector<std::string>{"it", "'s", "a", "dog", "'s", "3", ".", "1", "4", "day", "!!"});
  auto e = tok.encode("", 77);
  CHECK(e.length == 2);
  CHECK(e.ids[0] == tok.bos_id());
  CHECK(e.ids[1] == tok.eos_id());
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "word ";
  auto l = tok.encode(long_prompt, 77);
  CHECK(l.length == 77);
  CHECK(l.ids.back() == tok.eos_id());
  test::ScratchDir dir("clip-tok");
  {
    std::ofstream(dir / "vocab.json") << "{\"a\": 0}";
    std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
  }
  CHECK_THROWS_WITH_AS(ClipTokenizer::from_dir(dir.path()), doctest::Contains("no '<|startoftext|>' token"), Error);
  {
    std::ofstream(dir / "vocab.json") << "not json";
  }
  CHECK_THROWS_WITH_AS(ClipTokenizer::from_dir(dir.path()), doctest::Contains("not a JSON vocabulary"), Error);
  fs::copy_file(kText / "clip_small" / "vocab.json", dir / "vocab.json", fs::copy_options::overwrite_existing);
  {
    std::ofstream(dir / "merges.txt") << "#version: 0.2\nzq xw\n";
  }
  CHECK_THROWS_WITH_AS(ClipTokenizer::from_dir(dir.path()), doctest::Contains("of different tokenizers"), Error);
  CHECK_THROWS_WITH_AS(ClipTokenizer::from_dir(dir / "missing"), doctest::Contains("missing"), Error);
}

TEST_CASE("clip text model equals transformers CLIPTextModel on deterministic weights") {
  auto fx = load_checkpoint(kText / "clip_text_tiny.safetensors");
  ClipTextConfig c = ClipTextConfig::from_json_text(fx.metadata.at("config"), "clip_text_tiny config");
  CHECK(c.num_layers == 3);
  CHECK(c.eos_token_id == 6513);
  ClipTextModel m(c);
  {
    torch::NoGradGuard ng;
    for (auto& p : m->named_parameters(true)) p.value().copy_(test::det_param("text_model." + p.key(), p.value().sizes()));
  }
  m->eval();
  torch::NoGradGuard ng;
  at::Tensor ids = fx.get("input_ids").to(at::kLong);
  auto out = m->forward(ids);
  // fp32 vs fp64 of the reference itself: 2.2e-6 absolute of 3.6 (tests/data/gen/gen_clip_text.py).
  test::check_parity("last_hidden_state", out.last_hidden_state, fx.get("last_hidden_state"));
  test::check_parity("pooled", out.pooled, fx.get("pooler_output"));
  test::check_parity("penultimate", m->forward(ids, 1).last_hidden_state, fx.get("penultimate"));

  // The same weights under the transformers and LDM prefixes load one to one (and position_ids is ignored).
  for (std::string prefix : {"text_model.", "cond_stage_model.transformer.text_model."}) {
    StateDict sd;
    for (const auto& kv : m->named_parameters(true)) sd.set(prefix + kv.key(), kv.value().detach().clone());
    sd.set(prefix + "embeddings.position_ids", at::arange(77, at::kLong).unsqueeze(0));
    CHECK(clip_text_prefix(sd) == prefix);
    auto c2 = ClipTextConfig::from_state_dict(sd, prefix, 4);
    CHECK(c2.num_layers == 3);
    CHECK(c2.intermediate_size == 128);
    ClipTextModel m2(c2);
    load_clip_text(*m2, sd);
    m2->eval();
    CHECK(m2->forward(ids).last_hidden_state.equal(out.last_hidden_state));
    // Mis-shaped weights are named in one error.
    sd.set(prefix + "encoder.layers.1.mlp.fc1.weight", at::zeros({7, 64}));
    ClipTextModel m3(c2);
    CHECK_THROWS_WITH_AS(load_clip_text(*m3, sd), doctest::Contains("encoder.layers.1.mlp.fc1.weight"), Error);
  }
  CHECK_THROWS_WITH_AS(m->forward(at::full({1, 3}, 7000, at::kLong)), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(m->forward(at::zeros({1, 78}, at::kLong)), doctest::Contains("77 positions"), Error);
}

TEST_CASE("clip text encoder pairs the tokenizer with the tower and checks their vocabularies") {
  auto fx = load_checkpoint(kText / "clip_text_tiny.safetensors");
  ClipTextConfig c = ClipTextConfig::from_json_text(fx.metadata.at("config"), "config");
  ClipTextModel m(c);
  {
    torch::NoGradGuard ng;
    for (auto& p : m->named_parameters(true)) p.value().copy_(test::det_param("text_model." + p.key(), p.value().sizes()));
  }
  ClipTextEncoder enc(ClipTokenizer::from_dir(kText / "clip_small"), m);
  auto ps = prompts();
  at::Tensor ctx = enc.encode({ps[0], ps[1], ps[2], ps[3]});
  CHECK(ctx.sizes() == at::IntArrayRef{4, 77, 64});
  // The fixture's ids are CLIPTokenizer's of the first four prompts: same context as the model's.
  test::check_parity("context", ctx, fx.get("last_hidden_state"));
  ClipTextConfig other = c;
  other.vocab_size = 49408;
  CHECK_THROWS_WITH_AS(ClipTextEncoder(ClipTokenizer::from_dir(kText / "clip_small"), ClipTextModel(other)),
                       doctest::Contains("tokenizer files of another model"), Error);
}

TEST_CASE("clip text ViT-L/14 has the published parameter count") {
  ClipTextModel m(ClipTextConfig::vit_l14(), at::kMeta);
  MESSAGE("CLIP ViT-L/14 text parameters: ", m->num_parameters());
  CHECK(m->num_parameters() == 123060480);
}
