#include "eval/clip_input.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>

#include <fmt/ranges.h>

#include "core/error.h"
#include "core/video_io.h"
#include "core/zip_reader.h"
#include "eval/distances.h"

namespace fs = std::filesystem;

namespace longvid::eval {

// ---- .npy header ---------------------------------------------------------------------------------
NpyHeader parse_npy_header(const uint8_t* data, size_t size, const std::string& name) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (size < 10 || std::memcmp(data, magic, 6) != 0) fail("{}: not a .npy array (bad magic)", name);
  const int major = data[6];
  size_t hlen = 0, pos = 0;
  if (major == 1) {
    hlen = data[8] | (size_t{data[9]} << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail("{}: truncated .npy header", name);
    hlen = data[8] | (size_t{data[9]} << 8) | (size_t{data[10]} << 16) | (size_t{data[11]} << 24);
    pos = 12;
  } else {
    fail("{}: unsupported .npy format version {}", name, major);
  }
  if (pos + hlen > size) fail("{}: truncated .npy header", name);
  const std::string h(reinterpret_cast<const char*>(data + pos), hlen);
  NpyHeader out;
  out.data_offset = pos + hlen;
  auto value_of = [&](const std::string& key) -> std::string {
    auto k = h.find("'" + key + "'");
    if (k == std::string::npos) fail("{}: .npy header has no '{}'", name, key);
    auto c = h.find(':', k);
    if (c == std::string::npos) fail("{}: bad .npy header", name);
    size_t b = c + 1;
    while (b < h.size() && h[b] == ' ') ++b;
    if (b >= h.size()) fail("{}: bad .npy header", name);
    if (h[b] == '\'') {
      auto e = h.find('\'', b + 1);
      if (e == std::string::npos) fail("{}: bad .npy header", name);
      return h.substr(b + 1, e - b - 1);
    }
    if (h[b] == '(') {
      auto e = h.find(')', b);
      if (e == std::string::npos) fail("{}: bad .npy header", name);
      return h.substr(b + 1, e - b - 1);
    }
    auto e = h.find_first_of(",}", b);
    return h.substr(b, e == std::string::npos ? std::string::npos : e - b);
  };
  out.descr = value_of("descr");
  out.fortran_order = value_of("fortran_order").rfind("True", 0) == 0;
  std::string shape = value_of("shape");
  size_t i = 0;
  while (i < shape.size()) {
    while (i < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
    if (i >= shape.size()) break;
    if (!std::isdigit(static_cast<unsigned char>(shape[i]))) fail("{}: bad shape '({})' in .npy header", name, shape);
    int64_t v = 0;
    while (i < shape.size() && std::isdigit(static_cast<unsigned char>(shape[i]))) {
      v = v * 10 + (shape[i] - '0');
      if (v > (int64_t{1} << 40)) fail("{}: absurd dimension in .npy shape", name);
      ++i;
    }
    out.shape.push_back(v);
  }
  return out;
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// uint8 [N, T, H, W, 3] stored contiguously at `data_start` in `file`; read by seeking.
class ArrayInput : public ClipInput {
 public:
  ArrayInput(fs::path file, std::string kind, std::string label, const NpyHeader& h, uint64_t data_start,
             uint64_t available)
      : file_(std::move(file)), kind_(std::move(kind)), label_(std::move(label)), data_start_(data_start) {
    const std::string n = label_;
    if (h.descr != "|u1" && h.descr != "<u1" && h.descr != "u1")
      fail_hint("convert with (x * 255).round().clip(0, 255).astype(np.uint8)", "{}: array dtype '{}', expected uint8",
                n, h.descr);
    if (h.fortran_order) fail("{}: Fortran-order array, expected C order", n);
    if (h.shape.size() != 5 || h.shape[4] != 3)
      fail("{}: array of shape ({}), expected uint8 [N, T, H, W, 3]", n, fmt::format("{}", fmt::join(h.shape, ", ")));
    shape_ = h.shape;
    uint64_t bytes = 1;
    for (auto d : shape_) bytes *= static_cast<uint64_t>(d);
    if (bytes > available) fail("{}: truncated array data ({} bytes, expected {})", n, available, bytes);
    in_.open(file_, std::ios::binary);
    if (!in_) fail("{}: cannot open for reading", file_.string());
  }
  std::string describe() const override {
    return fmt::format("{} {} [{}x{}x{}x{}x3]", kind_, label_, shape_[0], shape_[1], shape_[2], shape_[3]);
  }
  std::string kind() const override { return kind_; }
  int64_t items() const override { return shape_[0]; }
  int64_t frames(int64_t) override { return shape_[1]; }
  std::string item_name(int64_t item) const override { return fmt::format("{}[{}]", label_, item); }
  at::Tensor read(int64_t item, int64_t offset, int64_t length, int64_t stride) override {
    const int64_t fb = shape_[2] * shape_[3] * 3;
    if (offset + (length - 1) * stride >= shape_[1])
      fail("{}: clip of {} frames at {} (stride {}) runs past its {} frames", item_name(item), length, offset, stride,
           shape_[1]);
    at::Tensor out = at::empty({length, shape_[2], shape_[3], 3}, at::kByte);
    auto* dst = out.data_ptr<uint8_t>();
    for (int64_t t = 0; t < length; ++t) {
      const uint64_t pos = data_start_ + static_cast<uint64_t>((item * shape_[1] + offset + t * stride) * fb);
      in_.seekg(static_cast<std::streamoff>(pos));
      in_.read(reinterpret_cast<char*>(dst + t * fb), fb);
      if (!in_) fail("{}: read error (truncated file?)", label_);
    }
    return out;
  }

 private:
  fs::path file_;
  std::string kind_, label_;
  uint64_t data_start_;
  std::vector<int64_t> shape_;
  std::ifstream in_;
};

// Reads up to `n` bytes from the start of `path`.
std::vector<uint8_t> read_prefix(const fs::path& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open for reading", path.string());
  std::vector<uint8_t> b(n);
  f.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(n));
  b.resize(static_cast<size_t>(f.gcount()));
  return b;
}

std::unique_ptr<ClipInput> open_npy(const fs::path& path) {
  const uint64_t size = fs::file_size(path);
  auto head = read_prefix(path, 1 << 16);
  NpyHeader h = parse_npy_header(head.data(), head.size(), path.string());
  if (h.data_offset > size) fail("{}: truncated .npy", path.string());
  return std::make_unique<ArrayInput>(path, "npy", path.string(), h, h.data_offset, size - h.data_offset);
}

std::unique_ptr<ClipInput> open_npz(const fs::path& path, const std::string& array) {
  const std::string p = path.string();
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) fail("{}: cannot open for reading", p);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    fail("{}: empty or unreadable .npz", p);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) fail("{}: cannot map the file", p);
  struct Unmap {
    void* m;
    size_t s;
    ~Unmap() { ::munmap(m, s); }
  } unmap{map, size};
  const auto* data = static_cast<const uint8_t*>(map);
  // Only the central directory and the member's .npy header are touched here (then unmapped);
  // clips are read later by seeking, so memory stays flat.
  auto entries = zip::read_directory(data, size, p);
  const zip::Entry* e = nullptr;
  std::vector<std::string> names;
  for (const auto& en : entries) {
    if (en.name.size() < 4 || en.name.substr(en.name.size() - 4) != ".npy") continue;
    const std::string an = en.name.substr(0, en.name.size() - 4);
    names.push_back(an);
    if (!e && (array.empty() || an == array)) e = &en;
  }
  if (!e) {
    if (array.empty()) fail("{}: no arrays in the .npz", p);
    fail("{}: no array '{}' in the .npz (has: {})", p, array, fmt::format("{}", fmt::join(names, ", ")));
  }
  const std::string label = p + ":" + e->name.substr(0, e->name.size() - 4);
  if (e->method != 0)
    fail_hint("save it with np.savez (stored), not np.savez_compressed, or as a .npy",
              "{}: array is deflate-compressed in the .npz; longvid reads only stored (uncompressed) members", label);
  NpyHeader h = parse_npy_header(data + e->data_offset, static_cast<size_t>(e->size), label);
  if (h.data_offset > e->size) fail("{}: truncated .npy member", label);
  return std::make_unique<ArrayInput>(path, "npz", label, h, e->data_offset + h.data_offset, e->size - h.data_offset);
}

bool is_video_ext(const std::string& ext) {
  static const char* exts[] = {".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".gif", ".y4m"};
  for (const char* x : exts)
    if (ext == x) return true;
  return false;
}

class VideoFilesInput : public ClipInput {
 public:
  VideoFilesInput(std::vector<fs::path> files, std::string kind, std::string label)
      : files_(std::move(files)), kind_(std::move(kind)), label_(std::move(label)), frames_(files_.size(), -1) {}
  std::string describe() const override {
    return kind_ == "folder" ? fmt::format("folder {} ({} videos)", label_, files_.size())
                             : fmt::format("video {}", label_);
  }
  std::string kind() const override { return kind_; }
  int64_t items() const override { return static_cast<int64_t>(files_.size()); }
  std::string item_name(int64_t item) const override { return files_.at(static_cast<size_t>(item)).string(); }
  int64_t frames(int64_t item) override {
    auto& f = frames_.at(static_cast<size_t>(item));
    if (f < 0) f = probe_video(files_[static_cast<size_t>(item)]).frame_count;
    return f;
  }
  at::Tensor read(int64_t item, int64_t offset, int64_t length, int64_t stride) override {
    ReadOptions ro;
    ro.start = offset;
    ro.count = length;
    ro.stride = stride;
    at::Tensor t = read_video(files_.at(static_cast<size_t>(item)), ro);
    if (t.size(0) != length)
      fail("{}: only {} frames from frame {} (stride {}), a clip needs {}", item_name(item), t.size(0), offset,
           stride, length);
    return t;
  }

 private:
  std::vector<fs::path> files_;
  std::string kind_, label_;
  std::vector<int64_t> frames_;
};

}  // namespace

std::unique_ptr<ClipInput> open_clip_input(const fs::path& path, const std::string& npz_array) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail("{}: no such file or directory", path.string());
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& de : fs::directory_iterator(path))
      if (de.is_regular_file() && is_video_ext(lower(de.path().extension().string()))) files.push_back(de.path());
    std::sort(files.begin(), files.end());
    if (files.empty())
      fail("{}: no video files in the folder (looked for .mp4 .webm .mkv .avi .mov .m4v .gif .y4m)", path.string());
    return std::make_unique<VideoFilesInput>(std::move(files), "folder", path.string());
  }
  const std::string ext = lower(path.extension().string());
  if (ext == ".npy") return open_npy(path);
  if (ext == ".npz") return open_npz(path, npz_array);
  return std::make_unique<VideoFilesInput>(std::vector<fs::path>{path}, "video", path.string());
}

std::map<std::string, std::string> ClipOptions::metadata() const {
  return {{"clip_length", std::to_string(length)}, {"clip_stride", std::to_string(stride)},
          {"clip_sampling", sampling},            {"clip_hop", std::to_string(hop)},
          {"clip_seed", std::to_string(seed)},    {"clip_first", std::to_string(first)}};
}

int64_t clip_offset(uint64_t seed, int64_t index, int64_t range) {
  if (range <= 0) return 0;
  uint64_t s = seed ^ (0x632BE59BD9B4E019ULL * static_cast<uint64_t>(index + 1));
  return static_cast<int64_t>(splitmix64(s) % static_cast<uint64_t>(range));
}

std::vector<ClipRef> plan_clips(ClipInput& in, const ClipOptions& opt) {
  if (opt.length < 1 || opt.stride < 1) fail("clip length and stride must be >= 1 (got {}, {})", opt.length, opt.stride);
  if (opt.sampling != "random" && opt.sampling != "start")
    fail("unknown clip sampling '{}' (known: random, start)", opt.sampling);
  if (opt.first < 0) fail("--first must be >= 0, got {}", opt.first);
  const int64_t span = opt.span();
  auto check_len = [&](int64_t item) {
    const int64_t n = in.frames(item);
    if (n < span)
      fail_hint("use shorter clips (--clip-length / --clip-stride) or longer videos",
                "{}: {} frames, shorter than the clip length {} (stride {}: {} frames)", in.item_name(item), n,
                opt.length, opt.stride, span);
    return n;
  };
  std::vector<ClipRef> refs;
  if (in.kind() == "video" && opt.sampling == "start") {
    const int64_t n = check_len(0);
    const int64_t hop = opt.hop > 0 ? opt.hop : span;
    const int64_t windows = (n - span) / hop + 1;
    const int64_t num = opt.num < 0 ? windows - opt.first : opt.num;
    if (opt.first + num > windows || num < 0)
      fail_hint(fmt::format("use --num {} (or -1 for all), a smaller --hop, or --sampling random",
                            std::max<int64_t>(windows - opt.first, 0)),
                "{}: {} frames hold {} windows of {} frames every {}, asked for clips {}..{}", in.item_name(0), n,
                windows, span, hop, opt.first, opt.first + num - 1);
    for (int64_t k = 0; k < num; ++k) refs.push_back({opt.first + k, 0, (opt.first + k) * hop});
    return refs;
  }
  const int64_t items = in.items();
  const int64_t num = opt.num < 0 ? std::max<int64_t>(items - opt.first, 0) : opt.num;
  refs.reserve(static_cast<size_t>(num));
  for (int64_t k = 0; k < num; ++k) {
    const int64_t i = opt.first + k;
    const int64_t item = i % items;
    const int64_t n = check_len(item);
    const int64_t off = opt.sampling == "random" ? clip_offset(opt.seed, i, n - span + 1) : 0;
    refs.push_back({i, item, off});
  }
  return refs;
}

std::vector<CurvePosition> plan_curve(ClipInput& in, const ClipOptions& opt, int64_t step, int64_t segment,
                                      int64_t segment_hop) {
  const int64_t span = opt.span();
  const bool single = in.kind() == "video";
  if (single && (segment < span || segment_hop < 1))
    fail("--segment ({}) must be >= the clip span ({}) and --segment-hop >= 1", segment, span);
  if (!single && in.items() < 2)
    fail("{}: FVD over time of a set needs at least 2 long videos (one clip per video at each position)",
         in.describe());
  if (step <= 0) step = single ? segment : span;
  int64_t shortest = INT64_MAX, which = 0;
  for (int64_t i = 0; i < in.items(); ++i) {
    const int64_t n = in.frames(i);
    if (n < shortest) shortest = n, which = i;
  }
  const int64_t need = single ? segment : span;
  if (shortest < need)
    fail("{}: {} frames, shorter than {} ({} frames)", in.item_name(which), shortest,
         single ? "one --segment" : "the clip length", need);
  std::vector<CurvePosition> out;
  for (int64_t p = 0; p + need <= shortest; p += step) {
    CurvePosition cp{p, {}};
    if (single) {
      for (int64_t off = p; off + span <= p + segment; off += segment_hop)
        cp.clips.push_back({static_cast<int64_t>(cp.clips.size()), 0, off});
    } else {
      for (int64_t i = 0; i < in.items(); ++i) cp.clips.push_back({i, i, p});
    }
    out.push_back(std::move(cp));
  }
  return out;
}

}  // namespace longvid::eval
