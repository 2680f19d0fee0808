// Where a piece of code spends its time, per ATen op: self time (the op's wall time minus the ops it
// dispatched itself) and calls, from a RecordFunction callback on the calling thread (ops that
// intra-op threads run inside a kernel belong to that kernel). Wall time on the host: on CUDA an op's
// time is its launch unless it synchronises. For `longvid bench --profile`; the callback costs about a
// microsecond per op, so profile a run that is not timed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace longvid {

struct OpTime {
  std::string name;  // "aten::mkldnn_convolution", ...
  double self_s = 0;
  int64_t calls = 0;
};

class OpProfile {
 public:
  OpProfile();  // starts recording on this thread (one profile per thread; a nested one records nothing)
  ~OpProfile();
  OpProfile(const OpProfile&) = delete;
  OpProfile& operator=(const OpProfile&) = delete;
  // Ops by self time, largest first; the total self time of all ops.
  std::vector<OpTime> ops() const;
  double total_s() const;

 private:
  uint64_t handle_ = 0;
  bool active_ = false;
};

}  // namespace longvid
