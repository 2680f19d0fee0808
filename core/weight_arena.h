// Model weights in a few large blocks instead of one allocation each (what ggml's backend buffers
// do for llama.cpp / stable-diffusion.cpp).
//
// A module built inside a WeightArenaScope gets its parameters and buffers packed into blocks of
// 64 MiB doubling to 1 GiB (64-byte aligned slots), taken from the CPU allocator that was in use.
// The checkpoint is then copied into them in place. A block goes back to that allocator when the
// last tensor in it dies, so a freed model leaves a few large free blocks in the process heap,
// already resident, that the next phase's large activations fit in. Built one allocation at a
// time, its weights are interleaved with small allocations, and the holes they leave fit few of a
// 256² decode's activations: the decode then faults in fresh pages (docs/performance.md,
// "Session 24"). Untouched parts of a block cost address space, not memory.
#pragma once

namespace longvid {

// Installs the arena as PyTorch's CPU allocator for the scope's lifetime. Only the thread that
// opened the scope allocates from it; other threads, and everyone once the scope ends, go to the
// allocator it replaced (slots are not reused, so only a model's build belongs in it). Expected:
// module construction only (no oneDNN ops, whose raw allocations need the plain allocator).
// Scopes do not nest: an inner one is a no-op. The blocks outlive the scope as long as any tensor
// in them does. LONGVID_WEIGHT_ARENA=0 turns it off (A/B runs).
class WeightArenaScope {
 public:
  explicit WeightArenaScope(bool enable = true);  // enable false: a no-op
  ~WeightArenaScope();
  WeightArenaScope(const WeightArenaScope&) = delete;
  WeightArenaScope& operator=(const WeightArenaScope&) = delete;
  bool active() const { return active_; }

 private:
  bool active_ = false;
};

}  // namespace longvid
