// longvid text encode: prompts -> text-encoder embeddings (T5 of Latte-1 / PixArt, or the CLIP text
// tower of an LDM / LVDM text2video checkpoint), written as safetensors, with time and peak memory:
//
//   longvid text encode --t5 text_encoder/ --tokenizer tokenizer/ -p "a cat" [-p ...] [-o emb.safetensors]
//                       [--dtype bf16|fp32] [--max-length 120] [--cache DIR]
//   longvid text encode --clip t2v.ckpt --tokenizer clip-vit-large-patch14/ -p "a cat" [-o ...]
#include <cxxopts.hpp>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "core/checkpoint.h"
#include "core/device.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/process_stats.h"
#include "pipeline/clip_text_encoder.h"
#include "pipeline/t5_text_encoder.h"
#include "tools/cli.h"

namespace longvid {
namespace {

int run_text(int argc, char** argv) {
  cxxopts::Options o("longvid text", "Text encoders: encode prompts into embeddings (T5, CLIP).");
  o.add_options()
    ("action", "encode | train-tokenizer", cxxopts::value<std::string>())
    ("corpus", "train-tokenizer: a text file, one text a line (e.g. captions)", cxxopts::value<std::string>()->default_value(""))
    ("merges", "train-tokenizer: at most this many BPE merges", cxxopts::value<int64_t>()->default_value("2000"))
    ("t5", "T5 encoder: a transformers folder (config.json + model.safetensors or a sharded index)", cxxopts::value<std::string>()->default_value(""))
    ("clip", "a checkpoint holding a CLIP text tower (transformers text_model.* or LDM cond_stage_model.*)", cxxopts::value<std::string>()->default_value(""))
    ("tokenizer", "T5: spiece.model or its folder; CLIP: vocab.json + merges.txt folder, or bpe_simple_vocab_16e6.txt", cxxopts::value<std::string>()->default_value(""))
    ("p,prompt", "a prompt (repeatable)", cxxopts::value<std::vector<std::string>>())
    ("o,output", "train-tokenizer: the folder for vocab.json + merges.txt; encode: write the embeddings [B, L, D] (and the T5 attention mask) to this safetensors file", cxxopts::value<std::string>()->default_value(""))
    ("dtype", "computation dtype: fp32 | bf16 | fp16 (T5 default: the weights' own)", cxxopts::value<std::string>()->default_value(""))
    ("max-length", "tokens per prompt (T5 default 120 as Latte-1; CLIP 77)", cxxopts::value<int64_t>()->default_value("0"))
    ("cache", "T5: cache the embeddings on disk in this folder (keyed by weights, length and prompt)", cxxopts::value<std::string>()->default_value(""))
    ("h,help", "show this help");
  o.parse_positional({"action"});
  o.positional_help("encode");
  auto a = o.parse(argc, argv);
  if (a.count("help") || !a.count("action")) {
    std::printf("%s\n", o.help().c_str());
    return a.count("help") ? cli::kExitOk : cli::kExitUsage;
  }
  if (a["action"].as<std::string>() == "train-tokenizer") {
    // A CLIP-format byte-level BPE trained on a corpus (what `longvid train --text-encoder` does
    // with the captions); transformers' CLIPTokenizer reads the files.
    const std::string corpus = a["corpus"].as<std::string>(), out = a["output"].as<std::string>();
    if (corpus.empty() || out.empty()) fail("text train-tokenizer: --corpus FILE and -o DIR are needed");
    if (a["merges"].as<int64_t>() < 0) fail("--merges {}: must be >= 0", a["merges"].as<int64_t>());
    std::vector<std::string> lines;
    std::istringstream in(read_text_file(corpus, "corpus"));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    auto tok = ClipTokenizer::train(lines, a["merges"].as<int64_t>());
    tok.save(out);
    std::printf("%s: %lld tokens from %zu texts\n", out.c_str(), static_cast<long long>(tok.vocab_size()), lines.size());
    return cli::kExitOk;
  }
  if (a["action"].as<std::string>() != "encode")
    fail("text {}: unknown action (encode, train-tokenizer)", a["action"].as<std::string>());
  const std::string t5 = a["t5"].as<std::string>(), clip = a["clip"].as<std::string>();
  if (t5.empty() == clip.empty()) fail("text encode: give one of --t5 or --clip");
  const std::string tok = a["tokenizer"].as<std::string>();
  if (tok.empty()) fail("text encode: --tokenizer is needed");
  if (!a.count("prompt")) fail("text encode: no prompt (-p)");
  const auto prompts = a["prompt"].as<std::vector<std::string>>();
  const int64_t max_length = a["max-length"].as<int64_t>();
  if (max_length < 0) fail("--max-length {}: must be positive", max_length);
  const std::string out = a["output"].as<std::string>();
  if (!out.empty() && !std::filesystem::is_directory(std::filesystem::absolute(out).parent_path()))
    fail("--output {}: no such folder {}", out, std::filesystem::absolute(out).parent_path().string());
  std::optional<c10::ScalarType> dtype;
  if (!a["dtype"].as<std::string>().empty()) dtype = parse_dtype(a["dtype"].as<std::string>());

  auto t0 = std::chrono::steady_clock::now();
  at::Tensor emb, mask;
  std::string what;
  int64_t hits = 0;
  double load_s = 0;
  if (!t5.empty()) {
    if (!std::filesystem::exists(t5)) fail("--t5 {}: no such file or folder", t5);
    auto enc = load_t5_text_encoder(t5, tok, at::kCPU, dtype, max_length > 0 ? max_length : 120);
    if (!a["cache"].as<std::string>().empty())
      enc->set_cache(std::make_shared<PromptEmbeddingCache>(a["cache"].as<std::string>()));
    load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    what = enc->describe();
    emb = enc->encode(prompts);
    mask = enc->last_mask();
    hits = enc->cache_hits();
  } else {
    require_readable_file(clip, "--clip");
    if (dtype && *dtype != at::kFloat) fail("--dtype: the CLIP text encoder runs in fp32");
    if (max_length != 0 && max_length != 77) fail("--max-length {}: CLIP contexts are 77 tokens", max_length);
    auto enc = load_clip_text_encoder(load_checkpoint(clip), tok, at::kCPU);
    load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    what = enc->describe();
    emb = enc->encode(prompts);
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!out.empty()) {
    StateDict sd;
    sd.set("embeddings", emb.contiguous());
    if (mask.defined()) sd.set("attention_mask", mask.contiguous());
    save_safetensors(out, sd, {{"longvid.encoder", what}});
  }
  std::printf("%s: %zu prompt(s) -> [%s] in %.2f s (load %.2f s%s); peak RSS %.0f MiB%s%s\n", what.c_str(),
              prompts.size(), fmt::format("{}", fmt::join(emb.sizes(), ", ")).c_str(), total, load_s,
              hits > 0 ? fmt::format(", {} from the cache", hits).c_str() : "", peak_rss_kib() / 1024.0,
              out.empty() ? "" : "; wrote ", out.c_str());
  return cli::kExitOk;
}

}  // namespace

LONGVID_COMMAND("text", "text encoders: encode prompts into embeddings (T5, CLIP)", run_text);

}  // namespace longvid
