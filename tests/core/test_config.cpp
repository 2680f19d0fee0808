#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "tests/helpers.h"

using namespace longvid;

namespace {
std::filesystem::path lvdm_config(const std::string& rel) { return test::data_dir() / "configs" / "lvdm" / rel; }

// The message of the longvid::Error thrown by f (fails the test if none is thrown).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected a longvid::Error");
  return {};
}

void write_text(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }
}  // namespace

TEST_CASE("config: official LVDM short-video config (lvdm_short/sky.yaml)") {
  auto cfg = Config::load(lvdm_config("lvdm_short/sky.yaml"));
  auto p = cfg.at("model.params");
  CHECK(p.get<double>("linear_start") == doctest::Approx(0.0015));
  CHECK(p.get<double>("linear_end") == doctest::Approx(0.0155));
  CHECK(p.get<int>("timesteps") == 1000);
  CHECK(p.get_or<std::string>("beta_schedule", "linear") == "linear");  // LVDM's default
  CHECK(p.get<double>("scale_factor") == 0.33422927);
  CHECK(p.get<double>("shift_factor") == 1.4606637);
  CHECK(p.get<std::string>("cond_stage_config") == "__is_unconditional__");
  CHECK(p.get<std::string>("encoder_type") == "3d");
  CHECK(p.get<bool>("scale_by_std") == false);
  CHECK(p.get<std::string>("loss_type") == "l1");
  auto unet = cfg.at("model.params.unet_config.params");
  CHECK(unet.key_path() == "model.params.unet_config.params");
  CHECK(unet.get<int>("model_channels") == 256);
  CHECK(cfg.get<int>("model.params.unet_config.params.model_channels") == 256);
  CHECK(unet.get<std::vector<int>>("channel_mult") == std::vector<int>{1, 2, 3, 4});
  CHECK(unet.get<std::vector<int>>("attention_resolutions") == std::vector<int>{8, 4, 2});
  CHECK(unet.get<int>("num_res_blocks") == 3);
  CHECK(unet.get<int>("num_heads") == 4);
  CHECK(unet.get<int>("kernel_size_t") == 1);
  CHECK(unet.get<int>("temporal_length") == 4);
  CHECK(unet.get<bool>("use_checkpoint") == true);  // "true"
  CHECK(unet.get<bool>("legacy") == false);         // "False"
  CHECK(unet.get<bool>("use_relative_position"));
  CHECK(unet.get<bool>("use_scale_shift_norm"));
  CHECK(unet.get<int>("channel_mult[2]") == 3);
  CHECK(unet.get<int>("channel_mult.3") == 4);
  CHECK(unet.get_or<int>("num_classes", -1) == -1);

  auto fs = cfg.at("model.params.first_stage_config.params");
  CHECK(fs.get<std::string>("ckpt_path") == "${ckpt_path}");  // OmegaConf interpolation, kept as text
  CHECK(fs.get<int>("embed_dim") == 4);
  auto dd = fs.at("ddconfig");
  CHECK(dd.get<bool>("double_z"));
  CHECK(dd.get<int>("z_channels") == 4);
  CHECK(dd.get<int>("encoder.params.n_hiddens") == 32);
  CHECK(dd.get<std::vector<int>>("encoder.params.downsample") == std::vector<int>{4, 8, 8});
  CHECK(dd.get<std::vector<int64_t>>("decoder.params.upsample") == std::vector<int64_t>{4, 8, 8});
  CHECK(dd.get<std::string>("encoder.params.padding_type") == "replicate");
  CHECK(dd.get<std::string>("decoder.params.norm_type") == "group");

  // Iteration in document order.
  CHECK(cfg.keys() == std::vector<std::string>{"model", "data", "lightning"});
  auto items = cfg.at("model.params.first_stage_config.params.ddconfig").items();
  REQUIRE(items.size() == 4);
  CHECK(items[0].first == "double_z");
  CHECK(items[3].first == "decoder");
  CHECK(items[3].second.key_path() == "model.params.first_stage_config.params.ddconfig.decoder");
  CHECK(cfg.get<std::string>("lightning.callbacks.metrics_over_trainsteps_checkpoint.params.filename") ==
        "{epoch:06}-{step:09}");
  CHECK(cfg.has("lightning.callbacks.metrics_over_trainsteps_checkpoint.params.every_n_train_steps"));
  CHECK(cfg.at("lightning.callbacks.metrics_over_trainsteps_checkpoint.params.every_n_train_steps").is_null());
  CHECK(cfg.get_or<int>("lightning.callbacks.metrics_over_trainsteps_checkpoint.params.every_n_train_steps", 7) ==
        7);
  CHECK_FALSE(cfg.has("model.params.nope"));
  CHECK(unet.at("model_channels").line() == 33);
}

TEST_CASE("config: official LVDM 3D autoencoder, long-video and T2V configs") {
  auto ae = Config::load(lvdm_config("videoae/sky.yaml"));
  CHECK(ae.get<std::string>("model.target") == "lvdm.models.autoencoder3d.AutoencoderKL");
  CHECK(ae.get<double>("model.base_learning_rate") == doctest::Approx(3.6e-5));
  CHECK(ae.get<int>("model.params.embed_dim") == 4);
  CHECK(ae.get<int>("model.params.lossconfig.params.disc_start") == 50001);
  CHECK(ae.get<double>("model.params.lossconfig.params.kl_weight") == 0.0);
  CHECK(ae.get<double>("model.params.lossconfig.params.disc_weight") == 0.5);
  CHECK(ae.get<std::vector<int>>("model.params.ddconfig.encoder.params.downsample") == std::vector<int>{4, 8, 8});
  CHECK(ae.get<int>("model.params.ddconfig.decoder.params.image_channel") == 3);

  auto pred = Config::load(lvdm_config("lvdm_long/sky_pred.yaml"));
  auto pp = pred.at("model.params");
  CHECK(pp.get<std::string>("conditioning_key") == "concat-adm-mask");
  CHECK(pp.at("cond_stage_config").is_null());
  CHECK(pp.get<bool>("noisy_cond"));
  CHECK(pp.get<int>("max_noise_level") == 250);
  CHECK(pp.get<double>("p_pred") == 0.5);
  CHECK(pp.get<double>("p_interp") == 0.0);
  CHECK(pp.get<std::vector<int>>("n_prevs") == std::vector<int>{1});  // "[1,]"
  CHECK(pp.get<int>("latent_frame_strde") == 4);                      // (sic)
  CHECK(pp.get<int>("unet_config.params.num_classes") == 251);
  CHECK(pp.get<int>("unet_config.params.in_channels") == 5);
  CHECK(pp.get<int>("unet_config.params.temporal_length") == 4);
  CHECK(pp.get<double>("scale_factor") == 0.33422927);

  auto interp = Config::load(lvdm_config("lvdm_long/sky_interp.yaml"));
  CHECK(interp.get<double>("model.params.p_interp") == 0.9);
  CHECK(interp.at("model.params.n_prevs").is_null());
  CHECK(interp.get_or<std::vector<int>>("model.params.n_prevs", {}) == std::vector<int>{});
  CHECK(interp.get<int>("model.params.unet_config.params.temporal_length") == 5);
  CHECK(interp.get<double>("model.base_learning_rate") == 8.0e-5);

  auto t2v = Config::load(lvdm_config("lvdm_short/text2video.yaml"));
  CHECK(t2v.get<double>("model.params.linear_start") == 0.00085);
  CHECK(t2v.get<double>("model.params.linear_end") == 0.012);
  CHECK(t2v.get<std::vector<int>>("model.params.image_size") == std::vector<int>{32, 32});
  CHECK(t2v.get<double>("model.params.scale_factor") == 0.18215);
  CHECK_FALSE(t2v.has("model.params.shift_factor"));
  CHECK(t2v.get<int>("model.params.unet_config.params.context_dim") == 768);
  CHECK(t2v.get<std::vector<int>>("model.params.unet_config.params.channel_mult") == std::vector<int>{1, 2, 4, 4});
  CHECK(t2v.get<std::vector<int>>("model.params.first_stage_config.params.ddconfig.attn_resolutions").empty());
  CHECK(t2v.get<std::string>("model.params.cond_stage_config.target") ==
        "lvdm.models.modules.condition_modules.FrozenCLIPEmbedder");

  auto taichi = Config::load(lvdm_config("lvdm_short/taichi.yaml"));
  CHECK(taichi.get<double>("model.params.scale_factor") == 0.175733933);
  CHECK(taichi.get<double>("model.params.shift_factor") == 0.03291025);
  auto ucf = Config::load(lvdm_config("lvdm_short/ucf.yaml"));
  CHECK(ucf.get<double>("model.params.scale_factor") == 0.220142075);
  CHECK(ucf.get<double>("model.params.shift_factor") == 0.5837740898);
}

TEST_CASE("config: errors are one line and name the file, the key path and the problem") {
  test::ScratchDir dir("cfg");
  auto bad = dir / "bad.yaml";
  write_text(bad,
             "model:\n"
             "  params:\n"
             "    unet_config:\n"
             "      params:\n"
             "        model_channels: abc\n"
             "        channel_mult: [1, 2, x]\n"
             "        ratio: 1.5\n"
             "        big: 99999999999\n"
             "        flag: maybe\n");
  auto cfg = Config::load(bad);
  auto e = error_of([&] { cfg.get<int>("model.params.unet_config.params.model_channels"); });
  CHECK(e == "model.params.unet_config.params.model_channels: expected an integer, got 'abc' (" + bad.string() +
                 " line 5)");
  // The same error from a nested handle still names the full path.
  e = error_of([&] { cfg.at("model.params").get<int>("unet_config.params.model_channels"); });
  CHECK(e.find("model.params.unet_config.params.model_channels: expected an integer") == 0);
  e = error_of([&] { cfg.get<std::vector<int>>("model.params.unet_config.params.channel_mult"); });
  CHECK(e == "model.params.unet_config.params.channel_mult[2]: expected an integer, got 'x' (" + bad.string() +
                 " line 6)");
  CHECK(error_of([&] { cfg.get<int>("model.params.unet_config.params.ratio"); }).find("got '1.5'") !=
        std::string::npos);
  CHECK(cfg.get<double>("model.params.unet_config.params.ratio") == 1.5);
  CHECK(cfg.get<int64_t>("model.params.unet_config.params.big") == 99999999999LL);
  CHECK(error_of([&] { cfg.get<int>("model.params.unet_config.params.big"); }).find("out of range") !=
        std::string::npos);
  CHECK(error_of([&] { cfg.get<bool>("model.params.unet_config.params.flag"); })
            .find("expected a boolean (true/false), got 'maybe'") != std::string::npos);
  CHECK(error_of([&] { cfg.get<int>("model.params.unet_config"); })
            .find("model.params.unet_config: expected an integer, got a mapping") == 0);
  CHECK(error_of([&] { cfg.get<std::vector<int>>("model.params.unet_config.params.ratio"); })
            .find("expected a list, got '1.5'") != std::string::npos);
  // Looking below a scalar.
  CHECK(error_of([&] { cfg.get<int>("model.params.unet_config.params.ratio.x"); })
            .find("model.params.unet_config.params.ratio: expected a mapping to look up 'x', got '1.5'") == 0);

  // Missing required key: names the file, the full path and what is there.
  e = error_of([&] { cfg.get<int>("model.params.unet_config.params.num_heads"); });
  CHECK(e.find(bad.string() + ": missing required key 'model.params.unet_config.params.num_heads'") == 0);
  CHECK(e.find("model_channels, channel_mult") != std::string::npos);
  e = error_of([&] { cfg.at("model.params.first_stage_config"); });
  CHECK(e.find("missing required key 'model.params.first_stage_config'") != std::string::npos);
  CHECK(error_of([&] { cfg.get<int>("model.params.unet_config.params.channel_mult[7]"); })
            .find("the list 'model.params.unet_config.params.channel_mult' has 3 items") != std::string::npos);

  // Every message is one line.
  for (const auto& msg : {error_of([&] { cfg.get<int>("model.params.unet_config.params.model_channels"); }),
                          error_of([&] { cfg.get<int>("model.params.unet_config.params.num_heads"); })})
    CHECK(test::count_lines(msg) == 1);
}

TEST_CASE("config: missing file, YAML and JSON syntax errors, duplicate keys") {
  test::ScratchDir dir("cfg");
  auto e = error_of([&] { Config::load(dir / "nope.yaml"); });
  CHECK(e == (dir / "nope.yaml").string() + ": no such config file");

  auto bad = dir / "syntax.yaml";
  write_text(bad, "model:\n  params:\n    a: [1, 2\n    b: 3\n");
  e = error_of([&] { Config::load(bad); });
  CHECK(e.find(bad.string() + ": YAML syntax error at line ") == 0);
  CHECK(e.find("column") != std::string::npos);
  CHECK(test::count_lines(e) == 1);

  auto bad2 = dir / "indent.yaml";
  write_text(bad2, "model:\n  a: 1\n b: 2\n");
  e = error_of([&] { Config::load(bad2); });
  CHECK(e.find("YAML syntax error at line 3") != std::string::npos);

  auto dup = dir / "dup.yaml";
  write_text(dup, "a: 1\nb: 2\na: 3\n");
  e = error_of([&] { Config::load(dup); });
  CHECK(e == dup.string() + ": line 3: duplicate key 'a'");

  auto badjson = dir / "bad.json";
  write_text(badjson, "{\n  \"a\": 1,\n  \"b\": }\n");
  e = error_of([&] { Config::load(badjson); });
  CHECK(e.find(badjson.string() + ": JSON syntax error: parse error at line 3") == 0);
  CHECK(test::count_lines(e) == 1);
}

TEST_CASE("config: JSON input, content sniffing, to_json") {
  test::ScratchDir dir("cfg");
  auto js = dir / "model.json";
  write_text(js, R"({"model": {"channels": 64, "mult": [1, 2], "name": "12", "lr": 1e-4, "ema": true, "x": null}})");
  auto cfg = Config::load(js);
  CHECK(cfg.get<int>("model.channels") == 64);
  CHECK(cfg.get<std::vector<int>>("model.mult") == std::vector<int>{1, 2});
  CHECK(cfg.get<std::string>("model.name") == "12");
  CHECK(cfg.get<double>("model.lr") == 1e-4);
  CHECK(cfg.get<bool>("model.ema"));
  CHECK(cfg.at("model.x").is_null());
  CHECK(cfg.at("model.mult").is_list());
  CHECK(cfg.at("model.mult").size() == 2);
  CHECK(cfg.at("model.mult").item(1).get<int>("") == 2);

  // No extension: JSON by content.
  auto noext = dir / "cfg";
  write_text(noext, "  {\"a\": {\"b\": 3}}");
  CHECK(Config::load(noext).get<int>("a.b") == 3);
  write_text(noext, "a:\n  b: 4\n");
  CHECK(Config::load(noext).get<int>("a.b") == 4);

  // to_json keeps order and types: plain scalars resolve, quoted ones stay strings.
  auto y = Config::parse_yaml("b: 1\na: [1.5, \"2\", true, ~, text]\nc: {d: -3}\n", "mem.yaml");
  CHECK(y.to_json() == R"({"b":1,"a":[1.5,"2",true,null,"text"],"c":{"d":-3}})");
  CHECK(y.at("c").to_json() == R"({"d":-3})");
  auto round = Config::parse_json(y.to_json(), "round.json");
  CHECK(round.to_json() == y.to_json());
  CHECK(nlohmann::json::parse(Config::load(lvdm_config("lvdm_short/sky.yaml")).to_json(2))["model"]["params"]
                             ["unet_config"]["params"]["channel_mult"] == nlohmann::json::array({1, 2, 3, 4}));

  // An empty Config is an empty mapping.
  Config empty;
  CHECK(empty.is_map());
  CHECK(empty.size() == 0);
  CHECK(empty.get_or<int>("a.b", 5) == 5);
}
