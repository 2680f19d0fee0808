// Checkpoint loading against fixtures written by PyPI torch (tests/data/gen/make_checkpoint_fixtures.py):
// `longvid inspect --json` and load_checkpoint must agree with Python's listing.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/pickle.h"
#include "tests/helpers.h"

using namespace longvid;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path ckpt_dir() { return test::data_dir() / "ckpt"; }

json read_json(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE_MESSAGE(f.good(), "cannot read " << p);
  return json::parse(f);
}

double wsum(const at::Tensor& t) {
  auto d = t.detach().to(at::kDouble).flatten();
  return (d * torch::arange(d.numel(), d.options())).sum().item<double>();
}

bool close(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b)); }

// Compares `longvid inspect --json --sums FILE [--select S]` and load_checkpoint with the listing.
void check_fixture(const std::string& file, const std::string& expected_name, const std::string& select = "") {
  CAPTURE(file);
  CAPTURE(select);
  json want = read_json(ckpt_dir() / (expected_name + ".expected.json"));
  std::vector<std::string> args = {"inspect", (ckpt_dir() / file).string(), "--json", "--sums"};
  if (!select.empty()) args.insert(args.end(), {"--select", select});
  auto r = test::run_cli(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  json got = json::parse(r.out);
  CHECK(got["format"] == want["format"]);
  CHECK(got["source"] == want["source"]);
  CHECK(got["layout"] == want["layout"]);
  CHECK(got["num_tensors"] == want["num_tensors"]);
  CHECK(got["num_parameters"] == want["num_parameters"]);
  if (want.contains("metadata")) CHECK(got["metadata"] == want["metadata"]);

  // Tensors: same names (in the same order for pickles; safetensors files are sorted by the writer).
  std::map<std::string, json> got_t;
  std::vector<std::string> got_order, want_order;
  for (const auto& t : got["tensors"]) {
    got_t[t["name"]] = t;
    got_order.push_back(t["name"]);
  }
  for (const auto& t : want["tensors"]) want_order.push_back(t["name"]);
  if (want["format"] != "safetensors") CHECK(got_order == want_order);
  REQUIRE(got_t.size() == want["tensors"].size());
  LoadOptions lo;
  if (!select.empty()) lo.select = select;
  StateDict sd = load_checkpoint(ckpt_dir() / file, lo);
  CHECK(sd.format == want["format"]);
  CHECK(sd.size() == want["tensors"].size());
  for (const auto& w : want["tensors"]) {
    std::string name = w["name"];
    CAPTURE(name);
    REQUIRE(got_t.count(name));
    const json& g = got_t[name];
    CHECK(g["dtype"] == w["dtype"]);
    CHECK(g["shape"] == w["shape"]);
    CHECK(close(g["sum"].get<double>(), w["sum"].get<double>()));
    CHECK(close(g["wsum"].get<double>(), w["wsum"].get<double>()));
    // The same values through the library API.
    const at::Tensor& t = sd.get(name);
    CHECK(dtype_name(t.scalar_type()) == w["dtype"].get<std::string>());
    CHECK(t.sizes().vec() == w["shape"].get<std::vector<int64_t>>());
    CHECK(close(t.to(at::kDouble).sum().item<double>(), w["sum"].get<double>()));
    CHECK(close(wsum(t), w["wsum"].get<double>()));
  }
  // Top-level structure of pickled checkpoints.
  if (want.contains("structure")) {
    REQUIRE(got["structure"].size() == want["structure"].size());
    for (size_t i = 0; i < want["structure"].size(); ++i) {
      const json& w = want["structure"][i];
      const json& g = got["structure"][i];
      CAPTURE(w.dump());
      CAPTURE(g.dump());
      CHECK(g["name"] == w["name"]);
      CHECK(g["type"] == w["type"]);
      for (const char* k : {"value", "entries", "tensors"})
        if (w.contains(k)) CHECK(g[k] == w[k]);
    }
  }
}

}  // namespace

TEST_CASE("checkpoint: inspect --json and load_checkpoint match PyTorch's listing") {
  SUBCASE("LVDM .ckpt (torch zip, state_dict, aliases, EMA, Lightning extras)") {
    check_fixture("lvdm_tiny.ckpt", "lvdm_tiny.ckpt");
  }
  SUBCASE("LVDM .ckpt re-packed as zip64") { check_fixture("lvdm_tiny_zip64.ckpt", "lvdm_tiny_zip64.ckpt"); }
  SUBCASE("Latte .pt picks ema") { check_fixture("latte_tiny.pt", "latte_tiny.pt"); }
  SUBCASE("Latte .pt --select model (bf16)") { check_fixture("latte_tiny.pt", "latte_tiny.pt.model", "model"); }
  SUBCASE("views sharing storage, many dtypes") { check_fixture("views.pt", "views.pt"); }
  SUBCASE("nn.Module state_dict (_metadata), Lightning AttributeDict, protocol-2 builtins") {
    check_fixture("module_state.ckpt", "module_state.ckpt");
  }
  SUBCASE("legacy torch.save format") { check_fixture("views_legacy.pt", "views_legacy.pt"); }
  SUBCASE("safetensors: bf16 fp16 fp32 fp64 ints bool, metadata") {
    check_fixture("mixed.safetensors", "mixed.safetensors");
  }
}

TEST_CASE("checkpoint: aliased and strided tensors share the record's storage") {
  auto sd = load_checkpoint(ckpt_dir() / "lvdm_tiny.ckpt");
  CHECK(sd.source == "state_dict");
  const auto& w = sd.get("first_stage_model.encoder.conv_first.weight");
  const auto& cw = sd.get("first_stage_model.encoder.conv_first.conv.weight");
  CHECK(w.data_ptr() == cw.data_ptr());
  CHECK(w.storage().is_alias_of(cw.storage()));
  CHECK(sd.contains("model_ema.diffusion_modelinput_blocks00weight"));
  CHECK(sd.get("model_ema.decay").dim() == 0);
  CHECK(sd.get("model_ema.decay").item<float>() == doctest::Approx(0.9999));

  for (const char* file : {"views.pt", "views_legacy.pt"}) {
    CAPTURE(file);
    auto v = load_checkpoint(ckpt_dir() / file);
    const auto& base = v.get("base");
    for (const char* k : {"transposed", "slice", "strided", "row", "element"})
      CHECK_MESSAGE(v.get(k).storage().is_alias_of(base.storage()), k);
    CHECK(v.get("transposed").strides().vec() == std::vector<int64_t>{1, 10});
    CHECK(v.get("slice").storage_offset() == 23);
    CHECK(v.get("strided").strides().vec() == std::vector<int64_t>{10, 3});
    CHECK(torch::equal(v.get("transposed"), base.t()));
    CHECK(torch::equal(v.get("slice"), base.slice(0, 2, 5).slice(1, 3, 7)));
    CHECK(v.get("int64_tail").storage().is_alias_of(v.get("int64").storage()));
  }
  // Tensors stay valid (the mapping is kept alive) after the StateDict is gone.
  at::Tensor keep;
  {
    auto v = load_checkpoint(ckpt_dir() / "views.pt");
    keep = v.get("slice");
  }
  CHECK(keep.sum().item<float>() == doctest::Approx((23 + 24 + 25 + 26 + 33 + 34 + 35 + 36 + 43 + 44 + 45 + 46) / 7.0));
}

TEST_CASE("checkpoint: LVDM dotless EMA names map back onto the model names") {
  auto sd = load_checkpoint(ckpt_dir() / "lvdm_tiny.ckpt");
  size_t n = 0;
  auto ema = with_dotless_ema(sd, "model.", "model_ema.", &n);
  CHECK(n == 2);
  CHECK(ema.keys() == sd.keys());
  CHECK(ema.source == "state_dict+model_ema");
  const auto& w = "model.diffusion_model.input_blocks.0.0.weight";
  CHECK(torch::allclose(ema.get(w), sd.get(w) * 0.5));
  CHECK(torch::equal(ema.get("model.diffusion_model.time_embed.0.weight"),
                     sd.get("model.diffusion_model.time_embed.0.weight")));
  CHECK(torch::equal(ema.get("first_stage_model.quant_conv.conv.weight"), sd.get("first_stage_model.quant_conv.conv.weight")));
}

TEST_CASE("checkpoint: structure, skipped entries and --select") {
  auto sd = load_checkpoint(ckpt_dir() / "lvdm_tiny.ckpt");
  std::map<std::string, CheckpointEntry> top;
  for (const auto& e : sd.structure) top[e.name] = e;
  CHECK(top.at("epoch").type == "int");
  CHECK(top.at("epoch").value == "3");
  CHECK(top.at("global_step").value == "1234");
  CHECK(top.at("hyper_parameters").type == "object");
  CHECK(top.at("hyper_parameters").value == "argparse.Namespace");
  CHECK(top.at("state_dict").tensors == static_cast<int64_t>(sd.size()));

  auto latte = load_checkpoint(ckpt_dir() / "latte_tiny.pt");
  CHECK(latte.source == "ema");
  CHECK((latte.get("blocks.0.attn.qkv.weight").scalar_type() == at::kFloat));
  auto model = load_checkpoint(ckpt_dir() / "latte_tiny.pt", {"model"});
  CHECK(model.source == "model");
  CHECK((model.get("blocks.0.attn.qkv.weight").scalar_type() == at::kBFloat16));
  // opt.state is keyed by ints and holds dicts: no tensors at its top level, nothing crashes.
  auto opt = load_checkpoint(ckpt_dir() / "latte_tiny.pt", {"opt"});
  CHECK(opt.empty());
  CHECK(opt.skipped == std::vector<std::string>{"state", "param_groups"});
  CHECK_THROWS_WITH_AS(load_checkpoint(ckpt_dir() / "latte_tiny.pt", {"nope"}),
                       doctest::Contains("no sub-dict 'nope' to select (dicts at the top level: model, ema, opt"), Error);
  // safetensors: a name selects a prefix.
  auto enc = load_checkpoint(ckpt_dir() / "mixed.safetensors", {"encoder"});
  auto ek = enc.keys();
  std::sort(ek.begin(), ek.end());
  CHECK(ek == std::vector<std::string>{"conv_in.bias", "conv_in.weight"});
  CHECK(enc.source == "encoder");
}

TEST_CASE("checkpoint: inspect text output names the layout and the top-level entries") {
  auto r = test::run_cli({"inspect", (ckpt_dir() / "lvdm_tiny.ckpt").string()});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("format:     torch-zip") != std::string::npos);
  CHECK(r.out.find("layout:     lvdm-short (LVDM short-video model") != std::string::npos);
  CHECK(r.out.find("epoch") != std::string::npos);
  CHECK(r.out.find("object argparse.Namespace") != std::string::npos);
  CHECK(r.out.find("<- selected") != std::string::npos);
  CHECK(r.out.find("first_stage_model.encoder.conv_first.conv.weight") != std::string::npos);
  auto s = test::run_cli({"inspect", (ckpt_dir() / "mixed.safetensors").string()});
  REQUIRE(s.exit_code == 0);
  CHECK(s.out.find("note: longvid fixture") != std::string::npos);
  CHECK(s.out.find("sd-autoencoder-kl") != std::string::npos);
}


TEST_CASE("pickle VM: protocol 0 text opcodes, memo, sets, nested containers") {
  // {'a': [1, 2.5, 'x', None, True], 'b': (-7, 123456789012)} written with protocol 0.
  std::string p0 = "(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\np3\naNaI01\nasVb\np4\n(I-7\nL123456789012L\ntp5\ns.";
  auto r = pickle::unpickle(reinterpret_cast<const uint8_t*>(p0.data()), p0.size(), "p0");
  REQUIRE(r.root->kind == pickle::Object::Kind::Dict);
  REQUIRE(r.root->dict_items.size() == 2);
  const auto* a = r.root->dict_items[0].second;
  REQUIRE(a->kind == pickle::Object::Kind::List);
  REQUIRE(a->items.size() == 5);
  CHECK(a->items[0]->i == 1);
  CHECK(a->items[1]->f == 2.5);
  CHECK(a->items[2]->s == "x");
  CHECK(a->items[4]->b);
  const auto* b = r.root->dict_items[1].second;
  CHECK(b->items[0]->i == -7);
  CHECK(b->items[1]->i == 123456789012LL);
  CHECK(r.end == p0.size());
  // A self-referencing list (memo) is fine: objects live in a flat arena.
  std::string cyc("\x80\x02]q\x00h\x00\x61.", 9);
  auto c = pickle::unpickle(reinterpret_cast<const uint8_t*>(cyc.data()), cyc.size(), "cyc");
  CHECK(c.root->items.size() == 1);
  CHECK(c.root->items[0] == c.root);
  // Truncated and unknown opcodes are errors, not crashes.
  CHECK_THROWS_WITH_AS(pickle::unpickle(reinterpret_cast<const uint8_t*>("\x80\x02}"), 3, "t"),
                       doctest::Contains("t: truncated pickle"), Error);
  CHECK_THROWS_WITH_AS(pickle::unpickle(reinterpret_cast<const uint8_t*>("\xff"), 1, "u"),
                       doctest::Contains("unknown pickle opcode 0xff"), Error);
}
