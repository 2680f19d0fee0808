// save_safetensors round trips, and load_into's strict reporting, prefix and name maps.
#include <doctest/doctest.h>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

TEST_CASE("safetensors: save then load round trip keeps dtypes, values, order and metadata, atomically") {
  test::ScratchDir dir("stio");
  StateDict sd;
  sd.set("f32", torch::randn({3, 4}));
  sd.set("bf16", torch::randn({5}).to(at::kBFloat16));
  sd.set("f16", torch::randn({2, 2}).to(at::kHalf));
  sd.set("f64", torch::randn({2}, at::kDouble));
  sd.set("i64", torch::arange(-3, 3, at::kLong));
  sd.set("i32", torch::tensor({1, -2}, at::kInt));
  sd.set("i16", torch::tensor({300, -300}, at::kShort));
  sd.set("i8", torch::tensor({-128, 127}, at::kChar));
  sd.set("u8", torch::tensor({0, 255}, at::kByte));
  sd.set("bool", torch::tensor({true, false, true}));
  sd.set("scalar", torch::tensor(3.5));
  sd.set("empty", torch::zeros({0, 4}));
  sd.set("transposed", torch::arange(12, at::kFloat).reshape({3, 4}).t());  // non-contiguous
  sd.set("f8", torch::tensor({0.5f, -2.0f}).to(at::kFloat8_e4m3fn));
  sd.metadata["from"] = "state";
  auto path = dir / "out.safetensors";
  save_safetensors(path, sd, {{"format", "pt"}, {"config", "{\"ch\": 4}"}});
  CHECK(dir.entries() == std::vector<std::string>{"out.safetensors"});
  auto back = load_checkpoint(path);
  CHECK(back.format == "safetensors");
  CHECK(back.keys() == sd.keys());
  for (const auto& k : sd.keys()) {
    CAPTURE(k);
    CHECK((back.get(k).scalar_type() == sd.get(k).scalar_type()));
    CHECK((back.get(k).sizes() == sd.get(k).sizes()));
    CHECK(torch::equal(back.get(k).to(at::kFloat), sd.get(k).to(at::kFloat)));
  }
  CHECK(back.metadata == std::map<std::string, std::string>{{"from", "state"}, {"format", "pt"}, {"config", "{\"ch\": 4}"}});
  // In-memory bytes and the file agree, and parse_safetensors reads them.
  auto bytes = safetensors_bytes(sd, {{"format", "pt"}, {"config", "{\"ch\": 4}"}});
  CHECK(bytes == read_file_bytes(path));
  auto mem = parse_safetensors(bytes.data(), bytes.size(), "mem");
  CHECK(torch::equal(mem.get("i64"), sd.get("i64")));
  // Overwriting replaces the file; a failed save leaves the old one and no temp file.
  StateDict small;
  small.set("x", torch::ones({1}));
  save_safetensors(path, small);
  CHECK(load_checkpoint(path).keys() == std::vector<std::string>{"x"});
  StateDict bad;
  bad.set("c", torch::ones({1}, at::kComplexFloat));
  CHECK_THROWS_WITH_AS(save_safetensors(path, bad), doctest::Contains("tensor 'c': dtype complex64 cannot be stored"), Error);
  CHECK(dir.entries() == std::vector<std::string>{"out.safetensors"});
  CHECK(load_checkpoint(path).keys() == std::vector<std::string>{"x"});
  // StateDict API.
  CHECK(sd.size() == 14);
  CHECK(sd.numel() == 12 + 5 + 4 + 2 + 6 + 2 + 2 + 2 + 2 + 3 + 1 + 0 + 12 + 2);
  auto sub = sd.select_prefix("i", true);
  CHECK(sub.keys() == std::vector<std::string>{"64", "32", "16", "8"});
  CHECK_THROWS_WITH_AS(sd.get("nope"), doctest::Contains("no tensor named 'nope'"), Error);
}

namespace {

struct BlockImpl : torch::nn::Module {
  BlockImpl() {
    lin = register_module("lin", torch::nn::Linear(3, 4));
    register_buffer("running", torch::zeros({4}));
  }
  torch::nn::Linear lin{nullptr};
};
TORCH_MODULE(Block);

struct NetImpl : torch::nn::Module {
  NetImpl() {
    a = register_module("a", Block());
    b = register_module("b", Block());
    register_parameter("scale", torch::ones({2}));
  }
  Block a{nullptr}, b{nullptr};
};
TORCH_MODULE(Net);

StateDict net_state(const std::string& prefix = "") {
  Net src;
  StateDict sd;
  torch::NoGradGuard ng;
  for (auto& p : src->named_parameters()) sd.set(prefix + p.key(), torch::randn(p.value().sizes()));
  for (auto& p : src->named_buffers()) sd.set(prefix + p.key(), torch::randn(p.value().sizes()));
  return sd;
}

}  // namespace

TEST_CASE("load_into: exact load copies parameters and buffers") {
  Net net;
  auto sd = net_state();
  load_into(*net, sd);
  CHECK(torch::equal(net->a->lin->weight, sd.get("a.lin.weight")));
  CHECK(torch::equal(net->b->named_buffers()["running"], sd.get("b.running")));
  CHECK(torch::equal(net->named_parameters()["scale"], sd.get("scale")));
  CHECK(net->a->lin->weight.requires_grad());
  // Copies, not aliases.
  CHECK(net->a->lin->weight.data_ptr() != sd.get("a.lin.weight").data_ptr());
}

TEST_CASE("load_into: strict mode reports every problem in one line") {
  Net net;
  auto before = net->a->lin->weight.clone();
  auto sd = net_state();
  StateDict broken;
  for (const auto& k : sd.keys())
    if (k != "b.lin.bias" && k != "a.running") broken.set(k, sd.get(k));
  broken.set("a.lin.weight", torch::zeros({4, 5}));
  broken.set("extra.weight", torch::zeros({1}));
  broken.set("b.lin.weight", torch::zeros({3, 4}));
  try {
    load_into(*net, broken);
    FAIL("no error");
  } catch (const Error& e) {
    std::string m = e.what();
    CAPTURE(m);
    CHECK(m.find('\n') == std::string::npos);
    CHECK(m.find("2 missing: b.lin.bias, a.running") != std::string::npos);
    CHECK(m.find("1 unexpected: extra.weight") != std::string::npos);
    CHECK(m.find("2 mis-shaped: a.lin.weight (checkpoint [4, 5] vs model [4, 3]), b.lin.weight (checkpoint [3, 4] vs model [4, 3])") !=
          std::string::npos);
  }
  // Nothing was copied.
  CHECK(torch::equal(net->a->lin->weight, before));
  // Non-strict: missing/unexpected are tolerated, mis-shaped are not.
  StateDict partial;
  partial.set("a.lin.weight", sd.get("a.lin.weight"));
  partial.set("zzz", torch::zeros({1}));
  LoadIntoOptions lax;
  lax.strict = false;
  load_into(*net, partial, lax);
  CHECK(torch::equal(net->a->lin->weight, sd.get("a.lin.weight")));
  CHECK_THROWS_WITH_AS(load_into(*net, broken, lax), doctest::Contains("mis-shaped"), Error);
}

TEST_CASE("load_into: long lists are summarised") {
  struct ManyImpl : torch::nn::Module {
    ManyImpl() {
      for (int i = 0; i < 77; ++i) register_parameter("p" + std::to_string(i), torch::zeros({1}));
    }
  };
  ManyImpl many;
  StateDict empty;
  try {
    load_into(many, empty);
    FAIL("no error");
  } catch (const Error& e) {
    std::string m = e.what();
    CHECK(m.find("77 missing: p0, p1") != std::string::npos);
    CHECK(m.find("p19, ... and 57 more") != std::string::npos);
    CHECK(m.find("p20") == std::string::npos);
  }
}

TEST_CASE("load_into: prefix, rename rules, custom map and ignore patterns") {
  Net net;
  auto sd = net_state("first_stage_model.");
  sd.set("first_stage_model.loss.logvar", torch::zeros({}));
  sd.set("first_stage_model.loss.disc.weight", torch::zeros({3}));
  sd.set("model.diffusion_model.other", torch::zeros({1}));
  LoadIntoOptions o;
  o.prefix = "first_stage_model.";
  o.ignore = {"loss.*"};
  load_into(*net, sd, o);
  CHECK(torch::equal(net->b->lin->bias, sd.get("first_stage_model.b.lin.bias")));
  // Without the ignore pattern the loss entries are unexpected.
  o.ignore.clear();
  CHECK_THROWS_WITH_AS(load_into(*net, sd, o), doctest::Contains("2 unexpected: loss.logvar, loss.disc.weight"), Error);

  // Rename rules: the checkpoint calls the blocks "enc"/"dec".
  StateDict renamed;
  auto plain = net_state();
  for (const auto& k : plain.keys()) {
    std::string n = k;
    if (n.rfind("a.", 0) == 0) n = "enc." + n.substr(2);
    if (n.rfind("b.", 0) == 0) n = "dec." + n.substr(2);
    renamed.set(n, plain.get(k));
  }
  LoadIntoOptions r;
  r.rename = {{"enc.", "a."}, {"dec.", "b."}};
  load_into(*net, renamed, r);
  CHECK(torch::equal(net->a->lin->weight, plain.get("a.lin.weight")));
  // A custom map (e.g. LVDM EMA names without dots) and dropping keys.
  LoadIntoOptions m;
  m.map_name = [](const std::string& n) -> std::optional<std::string> {
    if (n == "enc.lin.weight") return std::nullopt;
    if (n == "enc.lin.bias") return std::string("a.lin.bias");
    return n;
  };
  m.rename = {{"dec.", "b."}};
  m.strict = true;
  CHECK_THROWS_WITH_AS(load_into(*net, renamed, m), doctest::Contains("missing: a.lin.weight"), Error);
  CHECK(glob_match("loss.*", "loss.discriminator.main.0.weight"));
  CHECK(glob_match("*.num_batches_tracked", "enc.bn.num_batches_tracked"));
  CHECK(glob_match("blocks.?.attn*", "blocks.3.attn.qkv.weight"));
  CHECK_FALSE(glob_match("blocks.?.attn*", "blocks.13.attn.qkv.weight"));
  CHECK_FALSE(glob_match("loss.*", "xloss.a"));
}
