#include "train/dataset.h"

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/video_io.h"
#include "train/synth.h"

namespace fs = std::filesystem;

namespace longvid {

namespace {

const std::set<std::string> kVideoExt = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".y4m", ".m4v"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_video_file(const fs::path& p) { return kVideoExt.count(lower(p.extension().string())) > 0; }

bool holds_png(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && lower(e.path().extension().string()) == ".png") return true;
  return false;
}

void scan(const fs::path& dir, std::vector<fs::path>& out, int depth) {
  if (depth > 32) return;  // symlink loops
  if (holds_png(dir)) {
    out.push_back(dir);
    return;
  }
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir, ec)) entries.push_back(e.path());
  if (ec) fail("{}: cannot list directory: {}", dir.string(), ec.message());
  for (const auto& p : entries) {
    const std::string name = p.filename().string();
    if (!name.empty() && name[0] == '.') continue;  // hidden and our own temp outputs
    if (fs::is_directory(p, ec)) scan(p, out, depth + 1);
    else if (fs::is_regular_file(p, ec) && is_video_file(p)) out.push_back(p);
  }
}

// A uniform integer in [0, n) that is a pure function of (seed, k, tag).
uint64_t draw(uint64_t seed, int64_t k, uint64_t tag, uint64_t n) {
  SplitMix64 r(mix_seed(seed, static_cast<uint64_t>(k), tag));
  return r.below(n);
}

constexpr uint64_t kTagPerm = 0x7065726d, kTagStart = 0x7374, kTagCropY = 0x6379, kTagCropX = 0x6378;

}  // namespace

std::vector<fs::path> find_videos(const std::vector<fs::path>& roots) {
  if (roots.empty()) fail("dataset: no data folder given");
  std::vector<fs::path> out;
  for (const auto& r : roots) {
    std::error_code ec;
    if (!fs::exists(r, ec)) fail("{}: no such file or directory (dataset root)", r.string());
    if (fs::is_directory(r, ec)) {
      scan(r, out, 0);
    } else if (is_video_file(r)) {
      out.push_back(r);
    } else {
      fail("{}: not a video file (expected one of .mp4 .webm .mkv .mov .avi .gif .y4m, or a folder)", r.string());
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

struct VideoDataset::Impl {
  VideoDatasetOptions o;
  std::vector<VideoEntry> videos;
  int64_t span = 0;  // frames a clip covers: (T - 1) * stride + 1

  // Permutation cache (a few epochs), shared by the workers.
  mutable std::mutex perm_mu;
  mutable std::map<int64_t, std::vector<int64_t>> perms;

  // Prefetch state.
  std::mutex mu;
  std::condition_variable cv_work, cv_ready;
  int64_t consumer = 0;   // k of the next sample to hand out
  int64_t claimed = 0;    // k of the next sample a worker will take
  uint64_t generation = 0;  // bumped by restore(): results of older claims are dropped
  bool stop = false;
  struct Result {
    at::Tensor clip;
    std::exception_ptr error;
  };
  std::map<int64_t, Result> ready;
  std::vector<std::thread> threads;

  int64_t video_of(int64_t k) const {
    const int64_t n = static_cast<int64_t>(videos.size());
    const int64_t e = k / n, i = k % n;
    if (!o.shuffle) return i;
    std::lock_guard<std::mutex> g(perm_mu);
    auto it = perms.find(e);
    if (it == perms.end()) {
      std::vector<int64_t> p(static_cast<size_t>(n));
      for (int64_t j = 0; j < n; ++j) p[j] = j;
      SplitMix64 r(mix_seed(o.seed, static_cast<uint64_t>(e), kTagPerm));
      for (int64_t j = n - 1; j > 0; --j) std::swap(p[j], p[r.below(static_cast<uint64_t>(j + 1))]);
      if (perms.size() >= 4) perms.erase(perms.begin());
      it = perms.emplace(e, std::move(p)).first;
    }
    return it->second[static_cast<size_t>(i)];
  }

  // Sample k: uint8 [T, S, S, 3].
  at::Tensor produce(int64_t k) const {
    const VideoEntry& v = videos[static_cast<size_t>(video_of(k))];
    const int64_t T = o.clip_frames, S = o.size;
    const uint64_t starts = static_cast<uint64_t>(v.frames - span + 1);
    ReadOptions ro;
    ro.start = static_cast<int64_t>(draw(o.seed, k, kTagStart, starts));
    ro.count = T;
    ro.stride = o.frame_stride;
    at::Tensor frames = read_video(v.path, ro);  // [T, H, W, 3]
    if (frames.size(0) != T)
      fail("{}: read {} frames for a clip of {} (start {}, stride {})", v.path.string(), frames.size(0), T, ro.start,
           ro.stride);
    int64_t H = frames.size(1), W = frames.size(2);
    if (std::min(H, W) != S) {
      // Shorter side to S, bilinear with antialias (as torchvision's Resize on tensors).
      const int64_t h2 = H <= W ? S : std::max<int64_t>(S, std::llround(static_cast<double>(H) * S / W));
      const int64_t w2 = W <= H ? S : std::max<int64_t>(S, std::llround(static_cast<double>(W) * S / H));
      at::Tensor x = frames.permute({0, 3, 1, 2}).to(torch::kFloat32);
      x = torch::nn::functional::interpolate(
          x, torch::nn::functional::InterpolateFuncOptions()
                 .size(std::vector<int64_t>{h2, w2})
                 .mode(torch::kBilinear)
                 .align_corners(false)
                 .antialias(true));
      frames = x.round_().clamp_(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1});
      H = h2;
      W = w2;
    }
    int64_t oy = (H - S) / 2, ox = (W - S) / 2;
    if (o.random_crop) {
      oy = static_cast<int64_t>(draw(o.seed, k, kTagCropY, static_cast<uint64_t>(H - S + 1)));
      ox = static_cast<int64_t>(draw(o.seed, k, kTagCropX, static_cast<uint64_t>(W - S + 1)));
    }
    return frames.slice(1, oy, oy + S).slice(2, ox, ox + S).contiguous();
  }

  void worker() {
    for (;;) {
      int64_t k;
      uint64_t gen;
      {
        std::unique_lock<std::mutex> l(mu);
        cv_work.wait(l, [&] { return stop || claimed < consumer + o.queue; });
        if (stop) return;
        k = claimed++;
        gen = generation;
      }
      Result r;
      try {
        r.clip = produce(global(k));
      } catch (...) {
        r.error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> l(mu);
        if (gen != generation) continue;
        ready[k] = std::move(r);
      }
      cv_ready.notify_all();
    }
  }

  int64_t global(int64_t i) const {
    if (o.shard_block == 0) return i;
    return (i / o.shard_block) * o.shard_period + o.shard_offset + i % o.shard_block;
  }
  int64_t stream(int64_t k) const {
    if (o.shard_block == 0) return k;
    const int64_t q = k - o.shard_offset;
    if (q < 0) return -1;
    const int64_t step = q / o.shard_period, r = q % o.shard_period;
    return r < o.shard_block ? step * o.shard_block + r : -1;
  }

  // Moves the stream to position i (drops what the workers prepared).
  void seek(int64_t i) {
    {
      std::lock_guard<std::mutex> l(mu);
      ++generation;
      ready.clear();
      consumer = claimed = i;
    }
    cv_work.notify_all();
  }

  void start_workers() {
    for (int i = 0; i < o.workers; ++i) threads.emplace_back([this] { worker(); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
    }
    cv_work.notify_all();
    for (auto& t : threads) t.join();
    threads.clear();
    stop = false;
  }

  // Sample k (the consumer's next): from the workers, or decoded here when there are none.
  // The stream moves past k even when k failed, so a caller that catches the error goes on.
  at::Tensor take(int64_t k) {
    Result r;
    if (o.workers == 0) {
      try {
        r.clip = produce(global(k));
      } catch (...) {
        r.error = std::current_exception();
      }
      std::lock_guard<std::mutex> l(mu);
      consumer = claimed = k + 1;
    } else {
      std::unique_lock<std::mutex> l(mu);
      cv_ready.wait(l, [&] { return ready.count(k) > 0; });
      r = std::move(ready[k]);
      ready.erase(k);
      consumer = k + 1;
    }
    cv_work.notify_all();
    if (r.error) std::rethrow_exception(r.error);
    return r.clip;
  }
};

VideoDataset::VideoDataset(VideoDatasetOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.o = std::move(options);
  const auto& o = m.o;
  if (o.clip_frames < 1) fail("dataset: clip_frames must be >= 1 (got {})", o.clip_frames);
  if (o.frame_stride < 1) fail("dataset: frame_stride must be >= 1 (got {})", o.frame_stride);
  if (o.size < 1) fail("dataset: size must be >= 1 (got {})", o.size);
  if (o.workers < 0 || o.workers > 64) fail("dataset: workers must be 0..64 (got {})", o.workers);
  if (o.queue < 1) fail("dataset: queue must be >= 1 (got {})", o.queue);
  if (o.shard_block < 0 || (o.shard_block > 0 && (o.shard_period < o.shard_block || o.shard_offset < 0 ||
                                                  o.shard_offset + o.shard_block > o.shard_period)))
    fail("dataset: bad sharding (block {}, period {}, offset {}): need 0 <= offset, offset + block <= period",
         o.shard_block, o.shard_period, o.shard_offset);
  m.span = (o.clip_frames - 1) * o.frame_stride + 1;
  const std::vector<fs::path> paths = find_videos(o.roots);
  if (paths.empty()) {
    std::string roots;
    for (const auto& r : o.roots) roots += (roots.empty() ? "" : ", ") + r.string();
    fail_hint("videos are .mp4 .webm .mkv .mov .avi .gif .y4m files or folders of .png frames",
              "dataset: no videos found under {}", roots);
  }
  for (const auto& p : paths) {
    VideoInfo info;
    try {
      info = probe_video(p);
    } catch (const Error& e) {
      throw Error(fmt::format("dataset: cannot read video: {}", e.what()), e.hint());
    }
    if (!info.frame_count_exact)
      spdlog::warn("{}: frame count {} is an estimate (from the duration)", p.string(), info.frame_count);
    if (info.frame_count < m.span)
      fail("{}: {} frames, too short for a clip of {} frames at stride {} (needs {})", p.string(), info.frame_count,
           o.clip_frames, o.frame_stride, m.span);
    m.videos.push_back({p, info.width, info.height, info.frame_count});
  }
  m.start_workers();
}

VideoDataset::~VideoDataset() {
  if (impl_) impl_->stop_workers();
}

int64_t VideoDataset::num_videos() const { return static_cast<int64_t>(impl_->videos.size()); }
const std::vector<VideoEntry>& VideoDataset::videos() const { return impl_->videos; }
const VideoDatasetOptions& VideoDataset::options() const { return impl_->o; }

at::Tensor VideoDataset::next_batch(int64_t batch) {
  if (batch < 1) fail("dataset: batch size must be >= 1 (got {})", batch);
  Impl& m = *impl_;
  std::vector<at::Tensor> clips;
  clips.reserve(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    int64_t k;
    {
      std::lock_guard<std::mutex> l(m.mu);
      k = m.consumer;
    }
    clips.push_back(m.take(k));
  }
  // [B, T, S, S, 3] uint8 -> [B, 3, T, S, S] float in [-1, 1] (LVDM: x / 127.5 - 1).
  at::Tensor x = torch::stack(clips).permute({0, 4, 1, 2, 3}).to(torch::kFloat32);
  return x.div_(127.5).sub_(1.0).contiguous();
}

int64_t VideoDataset::next_sample() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->consumer;
}

int64_t VideoDataset::epoch() const { return impl_->global(next_sample()) / num_videos(); }

std::string VideoDataset::state() const {
  const int64_t i = next_sample(), k = impl_->global(i), n = num_videos();
  nlohmann::json j = {{"seed", impl_->o.seed}, {"next_sample", i}, {"epoch", k / n}, {"index", k % n},
                      {"num_videos", n}};
  return j.dump();
}

void VideoDataset::restore(const std::string& state_json) {
  Impl& m = *impl_;
  int64_t k = 0;
  try {
    const nlohmann::json j = nlohmann::json::parse(state_json);
    const uint64_t seed = j.at("seed").get<uint64_t>();
    const int64_t n = j.at("num_videos").get<int64_t>();
    k = j.at("next_sample").get<int64_t>();
    if (seed != m.o.seed) fail("dataset state: seed {} differs from this dataset's seed {}", seed, m.o.seed);
    if (n != num_videos())
      fail("dataset state: {} videos when saved, {} now (the data folder changed)", n, num_videos());
    if (k < 0) fail("dataset state: negative next_sample {}", k);
  } catch (const nlohmann::json::exception& e) {
    fail("dataset state: malformed ({})", e.what());
  }
  m.seek(k);
}

int64_t VideoDataset::global_index(int64_t i) const { return impl_->global(i); }
int64_t VideoDataset::stream_index(int64_t k) const { return impl_->stream(k); }

at::Tensor VideoDataset::samples(int64_t k0, int64_t n) {
  if (n < 1) fail("dataset: need at least one sample (got {})", n);
  if (k0 < 0) fail("dataset: negative sample index {}", k0);
  Impl& m = *impl_;
  std::vector<at::Tensor> clips;
  for (int64_t k = k0; k < k0 + n; ++k) {
    int64_t next;
    {
      std::lock_guard<std::mutex> l(m.mu);
      next = m.consumer;
    }
    const int64_t i = m.stream(k);
    if (i < 0) {
      clips.push_back(m.produce(k));  // off this shard's pattern: decode here, stream unchanged
      continue;
    }
    if (i != next) m.seek(i);
    clips.push_back(m.take(i));
  }
  at::Tensor x = torch::stack(clips).permute({0, 4, 1, 2, 3}).to(torch::kFloat32);
  return x.div_(127.5).sub_(1.0).contiguous();
}

at::Tensor VideoDataset::sample_uint8(int64_t k) const {
  if (k < 0) fail("dataset: negative sample index {}", k);
  return impl_->produce(k);
}

}  // namespace longvid
