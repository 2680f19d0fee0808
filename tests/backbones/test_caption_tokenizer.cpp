// ClipTokenizer::train: a CLIP-format BPE trained on captions (what `longvid train --text-encoder`
// ships with a text model) is read by transformers' CLIPTokenizer and tokenizes as it does
// (fixture: tests/data/gen/gen_caption_tokenizer.py on tests/data/text/caption_corpus.txt).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "backbones/clip_tokenizer.h"
#include "core/fs.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> corpus() {
  std::istringstream in(read_text_file(test::data_dir() / "text" / "caption_corpus.txt"));
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}
}  // namespace

TEST_CASE("caption tokenizer trained here equals transformers CLIPTokenizer reading its files") {
  auto fx = nlohmann::json::parse(read_text_file(test::data_dir() / "text" / "caption_tokenizer_ids.json"));
  test::ScratchDir dir("captok");
  ClipTokenizer trained = ClipTokenizer::train(corpus(), 2000);
  trained.save(dir.path());
  ClipTokenizer tok = ClipTokenizer::from_dir(dir.path());
  CHECK(tok.vocab_size() == fx["vocab_size"].get<int64_t>());
  CHECK(trained.vocab_size() == tok.vocab_size());
  const auto prompts = fx["prompts"].get<std::vector<std::string>>();
  const auto ids = fx["ids"].get<std::vector<std::vector<int64_t>>>();
  REQUIRE(prompts.size() == ids.size());
  REQUIRE(prompts.size() >= 35);
  int differ = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    INFO(prompts[i]);
    const auto got = tok.encode(prompts[i], 77).ids;
    CHECK(got == ids[i]);
    CHECK(trained.encode(prompts[i], 77).ids == got);
    differ += got != ids[i];
  }
  CHECK(differ == 0);
  // A caption word is one token: the tokenizer learned the caption language.
  CHECK(tok.encode_tokens("magenta").size() == 1);
  CHECK(tok.encode_tokens("a red square moving up and left").size() == 7);
}

TEST_CASE("caption tokenizer training is deterministic and bounded by max_merges") {
  test::ScratchDir dir("captok2");
  ClipTokenizer::train(corpus(), 2000).save(dir / "a");
  ClipTokenizer::train(corpus(), 2000).save(dir / "b");
  CHECK(read_text_file(dir / "a" / "vocab.json") == read_text_file(dir / "b" / "vocab.json"));
  CHECK(read_text_file(dir / "a" / "merges.txt") == read_text_file(dir / "b" / "merges.txt"));
  ClipTokenizer few = ClipTokenizer::train(corpus(), 10);
  CHECK(few.vocab_size() == 512 + 10 + 2);
  ClipTokenizer none = ClipTokenizer::train({}, 100);
  CHECK(none.vocab_size() == 514);
  CHECK(none.encode("red", 77).length == 5);  // BOS r e d</w> EOS
}
