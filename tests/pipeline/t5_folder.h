// A reduced t5-v1_1 encoder written as a transformers folder (config.json, two safetensors shards and
// their index), deterministic weights (tests/parity.h det_fill), the vocabulary of the small spiece
// model of tests/data/text/t5_small: for the T5 and Latte-1 tests.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "backbones/t5_encoder.h"
#include "core/checkpoint.h"
#include "tests/parity.h"

namespace longvid::test {

inline T5EncoderConfig write_t5_folder(const std::filesystem::path& dir) {
  T5EncoderConfig c;
  c.vocab_size = 1500;
  c.d_model = 32;
  c.d_kv = 8;
  c.d_ff = 48;
  c.num_layers = 2;
  c.num_heads = 4;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << nlohmann::json{{"architectures", {"T5EncoderModel"}},
                                                         {"vocab_size", c.vocab_size}, {"d_model", c.d_model},
                                                         {"d_kv", c.d_kv}, {"d_ff", c.d_ff},
                                                         {"num_layers", c.num_layers}, {"num_heads", c.num_heads},
                                                         {"feed_forward_proj", "gated-gelu"}}
                                              .dump();
  T5Encoder m(c);
  det_fill(*m);
  StateDict a, b;
  nlohmann::json map;
  for (const auto& kv : m->named_parameters()) {
    const bool first = kv.key().rfind("encoder.block.1.", 0) != 0;
    (first ? a : b).set(kv.key(), kv.value().detach().clone());
    map[kv.key()] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  a.set("encoder.embed_tokens.weight", a.get("shared.weight"));
  map["encoder.embed_tokens.weight"] = "model-00001-of-00002.safetensors";
  save_safetensors(dir / "model-00001-of-00002.safetensors", a, {{"format", "pt"}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", b, {{"format", "pt"}});
  std::ofstream(dir / "model.safetensors.index.json") << nlohmann::json{{"metadata", {{"total_size", 0}}},
                                                                        {"weight_map", map}}
                                                             .dump();
  return c;
}

}  // namespace longvid::test
