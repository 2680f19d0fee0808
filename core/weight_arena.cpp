#include "core/weight_arena.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace longvid {

namespace {

constexpr size_t kAlign = 64;
constexpr size_t kFirstBlock = size_t{64} << 20, kMaxBlock = size_t{1} << 30;

// One block from the underlying allocator; freed when its last slot (and the arena) let go.
struct Block {
  c10::DataPtr mem;
  size_t size = 0, used = 0;
  std::atomic<int64_t> refs{1};  // the arena's own while it is the current block
};

void release(Block* b) {
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete b;  // returns mem to its allocator
}

void delete_slot(void* ctx) { release(static_cast<Block*>(ctx)); }

// One arena for the process, never destroyed: a storage keeps a pointer to the allocator it came
// from (for resize_, copy-on-write clones), so that allocator must outlive every tensor. Closed,
// it passes everything to the allocator it replaced.
class Arena final : public c10::Allocator {
 public:
  // Opens it for the calling thread; false if it is already open.
  bool open(c10::Allocator* base) {
    std::lock_guard<std::mutex> lock(mu_);
    if (open_) return false;
    base_ = base;
    owner_ = std::this_thread::get_id();
    next_ = kFirstBlock;
    open_ = true;
    return true;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
    if (cur_) release(cur_);
    cur_ = nullptr;
  }
  c10::Allocator* base() const { return base_; }

  c10::DataPtr allocate(size_t n) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!open_ || n == 0 || std::this_thread::get_id() != owner_) return base_->allocate(n);
    const size_t need = (n + kAlign - 1) / kAlign * kAlign;
    if (!cur_ || cur_->size - cur_->used < need) {
      auto b = std::make_unique<Block>();
      b->size = std::max(need, next_);
      b->mem = base_->allocate(b->size);
      next_ = std::min(next_ * 2, kMaxBlock);
      if (cur_) release(cur_);
      cur_ = b.release();
    }
    void* p = static_cast<char*>(cur_->mem.get()) + cur_->used;
    cur_->used += need;
    cur_->refs.fetch_add(1, std::memory_order_relaxed);
    return {p, cur_, &delete_slot, c10::Device(c10::kCPU)};
  }

  // raw_deallocate of memory the replaced allocator handed out (oneDNN's buffers) looks the deleter
  // up on the current CPU allocator.
  c10::DeleterFnPtr raw_deleter() const override { return base_ ? base_->raw_deleter() : nullptr; }

  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }

 private:
  mutable std::mutex mu_;
  c10::Allocator* base_ = nullptr;
  std::thread::id owner_;
  bool open_ = false;
  Block* cur_ = nullptr;
  size_t next_ = kFirstBlock;
};

Arena& arena() {
  static Arena* a = new Arena;  // (never destroyed, see above)
  return *a;
}

}  // namespace

WeightArenaScope::WeightArenaScope(bool enable) {
  static const bool off = [] {
    const char* v = std::getenv("LONGVID_WEIGHT_ARENA");
    return v && std::strcmp(v, "0") == 0;
  }();
  if (off || !enable) return;
  c10::Allocator* current = c10::GetCPUAllocator();
  if (current == &arena() || !arena().open(current)) return;  // nested
  c10::SetCPUAllocator(&arena(), /*priority=*/0);
  active_ = true;
}

WeightArenaScope::~WeightArenaScope() {
  if (!active_) return;
  c10::SetCPUAllocator(arena().base(), /*priority=*/0);
  arena().close();  // drops its hold on the current block; live slots keep theirs
}

}  // namespace longvid
