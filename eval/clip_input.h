// Clip inputs for FVD: a folder of video files, a single (long) video, or a .npy / .npz array of
// uint8 [N, T, H, W, 3]. Clips are read one at a time (never the whole set in memory) at offsets
// chosen by ClipOptions; every choice is a function of (seed, clip index), so a run split into
// shards (--first / --num) reads exactly the clips of the unsplit run.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace longvid::eval {

// A set of videos ("items") from which clips are cut.
class ClipInput {
 public:
  virtual ~ClipInput() = default;
  virtual std::string describe() const = 0;
  virtual std::string kind() const = 0;  // "folder", "video", "npy", "npz"
  virtual int64_t items() const = 0;
  virtual int64_t frames(int64_t item) = 0;          // frame count of an item
  virtual std::string item_name(int64_t item) const = 0;
  // uint8 [length, H, W, 3]: frames offset, offset + stride, ... of `item`.
  virtual at::Tensor read(int64_t item, int64_t offset, int64_t length, int64_t stride) = 0;
};

// A directory (video files with a known extension, sorted by name), a .npy / .npz file (npz:
// the first array, or `array` when given; members must be STORED — np.savez, not
// np.savez_compressed), or any other file as one video (core/video_io.h).
std::unique_ptr<ClipInput> open_clip_input(const std::filesystem::path& path, const std::string& npz_array = "");

// Minimal .npy reading (format 1.0 / 2.0 / 3.0, C order, little-endian or byte-sized dtypes).
struct NpyHeader {
  std::string descr;            // "|u1", "<f4", ...
  bool fortran_order = false;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;     // of the array data relative to the start of the .npy bytes
};
// Parses the header from the first bytes of a .npy (`size` bytes available). `name` is used in errors.
NpyHeader parse_npy_header(const uint8_t* data, size_t size, const std::string& name);

struct ClipOptions {
  int64_t length = 16;               // frames per clip
  int64_t stride = 1;                // step between the frames of a clip
  std::string sampling = "random";   // "random": seeded random offset; "start": from frame 0 (one video:
                                     // consecutive windows every `hop` frames)
  int64_t hop = 0;                   // one long video, sampling "start": frames between clip starts (0: clip span)
  int64_t num = 2048;                // clips (-1: one per item, or every window of a single video)
  int64_t first = 0;                 // index of the first clip (shards)
  uint64_t seed = 0;
  int64_t span() const { return (length - 1) * stride + 1; }  // frames a clip covers
  std::map<std::string, std::string> metadata() const;        // for .stats files and reports
};

struct ClipRef {
  int64_t index;   // global clip index (first + k)
  int64_t item;
  int64_t offset;  // first frame
};

// Clip i (global index) of a folder / array: item i mod items; offset splitmix64(seed, i) mod
// (frames − span + 1) ("random") or 0 ("start"). One video: offset random as above, or i × hop.
// Throws longvid::Error when an item is shorter than the clip span (naming it) or asks for more
// windows than a single video has.
std::vector<ClipRef> plan_clips(ClipInput& input, const ClipOptions& opt);

// FVD over time (`longvid fvd curve`): the clips of each window position. A set of long videos
// (folder / array; at least 2): one clip per video starting at the position (LVDM's FVD-over-time
// protocol). ONE long video: the clips every `segment_hop` frames inside the `segment` frames that
// start at the position. Positions 0, step, 2 step, ... while the window fits in the shortest video
// (step 0: `segment` for one video, else the clip span).
struct CurvePosition {
  int64_t position;
  std::vector<ClipRef> clips;
};
std::vector<CurvePosition> plan_curve(ClipInput& input, const ClipOptions& opt, int64_t step, int64_t segment,
                                      int64_t segment_hop);

// Random offset for clip `index` in [0, range) (splitmix64 of seed and index).
int64_t clip_offset(uint64_t seed, int64_t index, int64_t range);

}  // namespace longvid::eval
