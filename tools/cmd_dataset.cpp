// longvid dataset: what a training video folder holds, as the trainer's reader sees it
// (train/dataset.h), and how fast the reader delivers clips.
//   longvid dataset ROOT... [--clip-frames 16] [--stride 1] [--size 64] [--random-crop] [--seed 0]
//                   [--workers 2] [--queue 8] [--batch 4] [--batches 0]
#include <cxxopts.hpp>

#include <chrono>
#include <cstdio>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/log.h"
#include "train/dataset.h"
#include "tools/cli.h"

namespace longvid::cli {
namespace {

int dataset_main(int argc, char** argv) {
  cxxopts::Options o("longvid dataset",
                     "List the videos of training folders as `longvid train` reads them, and measure the reader's "
                     "throughput (--batches N)");
  o.add_options()("clip-frames", "frames per clip (T)", cxxopts::value<int64_t>()->default_value("16"))(
      "stride", "frame stride", cxxopts::value<int64_t>()->default_value("1"))(
      "size", "clip frame size S (shorter side resized, then cropped)", cxxopts::value<int64_t>()->default_value("64"))(
      "random-crop", "random instead of centre crop", cxxopts::value<bool>()->default_value("false"))(
      "seed", "shuffling seed", cxxopts::value<int64_t>()->default_value("0"))(
      "workers", "decoding threads (0: on the caller's thread)", cxxopts::value<int>()->default_value("2"))(
      "queue", "samples decoded ahead", cxxopts::value<int64_t>()->default_value("8"))(
      "batch", "clips per batch", cxxopts::value<int64_t>()->default_value("4"))(
      "batches", "batches to read for the throughput figure (0: only list)",
      cxxopts::value<int64_t>()->default_value("0"))("list", "print every video",
                                                      cxxopts::value<bool>()->default_value("false"))(
      "roots", "folders or videos", cxxopts::value<std::vector<std::string>>())("h,help", "this help");
  o.parse_positional({"roots"});
  o.positional_help("ROOT...");
  auto a = o.parse(argc, argv);
  if (a.count("help")) {
    std::printf("%s\n", o.help().c_str());
    return kExitOk;
  }
  if (!a.count("roots")) {
    std::fprintf(stderr, "longvid dataset: error: missing ROOT (see --help)\n");
    return kExitUsage;
  }
  VideoDatasetOptions d;
  for (const auto& r : a["roots"].as<std::vector<std::string>>()) d.roots.emplace_back(r);
  d.clip_frames = a["clip-frames"].as<int64_t>();
  d.frame_stride = a["stride"].as<int64_t>();
  d.size = a["size"].as<int64_t>();
  d.random_crop = a["random-crop"].as<bool>();
  const int64_t seed = a["seed"].as<int64_t>();
  if (seed < 0) fail("dataset: --seed must be >= 0");
  d.seed = static_cast<uint64_t>(seed);
  d.workers = a["workers"].as<int>();
  d.queue = a["queue"].as<int64_t>();
  VideoDataset ds(d);
  int64_t frames = 0;
  for (const auto& v : ds.videos()) {
    frames += v.frames;
    if (a["list"].as<bool>())
      std::printf("%s %dx%d %lld frames\n", v.path.string().c_str(), v.width, v.height,
                  static_cast<long long>(v.frames));
  }
  std::printf("%lld videos, %lld frames\n", static_cast<long long>(ds.num_videos()), static_cast<long long>(frames));
  const int64_t nb = a["batches"].as<int64_t>(), B = a["batch"].as<int64_t>();
  if (nb > 0) {
    ds.next_batch(B);  // warm-up: workers started, first clips decoded
    const auto t0 = std::chrono::steady_clock::now();
    at::Tensor x;
    for (int64_t i = 0; i < nb; ++i) x = ds.next_batch(B);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("batches [%s] x %lld with %d workers: %.3f s, %.1f clips/s, %.1f frames/s\n",
                fmt::format("{}", fmt::join(x.sizes().vec(), ",")).c_str(), static_cast<long long>(nb), d.workers, s,
                nb * B / s, nb * B * d.clip_frames / s);
    std::printf("state %s\n", ds.state().c_str());
  }
  return kExitOk;
}

}  // namespace

LONGVID_COMMAND("dataset", "list training video folders as the trainer reads them; reader throughput", dataset_main);

}  // namespace longvid::cli
