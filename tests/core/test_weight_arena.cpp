#include <doctest/doctest.h>
#include <torch/torch.h>

#include <c10/core/CPUAllocator.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/weight_arena.h"

using namespace longvid;

namespace {

uintptr_t addr(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()); }

// Passes allocations on to the allocator it replaces and counts those of 1 MiB and more that are
// alive (the arena's blocks).
struct CountingAllocator final : c10::Allocator {
  explicit CountingAllocator(c10::Allocator* b) : base(b) {}
  c10::Allocator* base;
  std::atomic<int> big_made{0}, big_live{0};
  struct Ctx {
    c10::DataPtr inner;
    CountingAllocator* self;
    bool big;
  };
  c10::DataPtr allocate(size_t n) override {
    const bool big = n >= (size_t{1} << 20);
    auto* ctx = new Ctx{base->allocate(n), this, big};
    if (big) ++big_made, ++big_live;
    return {ctx->inner.get(), ctx, &free_ctx, c10::Device(c10::kCPU)};
  }
  static void free_ctx(void* c) {
    auto* ctx = static_cast<Ctx*>(c);
    if (ctx->big) --ctx->self->big_live;
    delete ctx;
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
};

}  // namespace

TEST_CASE("core: a module built in a WeightArenaScope has its weights packed in blocks, freed with the module") {
  c10::Allocator* const plain = c10::GetCPUAllocator();
  CountingAllocator counting(plain);
  c10::SetCPUAllocator(&counting, 0);
  {
    torch::nn::Sequential net;
    at::Tensor big;
    bool active = false;
    {
      WeightArenaScope arena;
      active = arena.active();
      if (!active) {  // LONGVID_WEIGHT_ARENA=0
        const char* v = std::getenv("LONGVID_WEIGHT_ARENA");
        CHECK((v && std::string(v) == "0"));
        CHECK(c10::GetCPUAllocator() == &counting);
      } else {
        CHECK(c10::GetCPUAllocator() != &counting);
        {
          WeightArenaScope inner;  // nested: a no-op, the outer arena stays
          CHECK_FALSE(inner.active());
        }
        CHECK(c10::GetCPUAllocator() != &counting);
      }
      torch::manual_seed(0);
      net = torch::nn::Sequential(torch::nn::Linear(5, 7), torch::nn::Conv2d(3, 4, 3), torch::nn::GroupNorm(2, 4));
      big = at::empty({(int64_t{65} << 20) / 4});  // larger than the first 64 MiB block
    }
    CHECK(c10::GetCPUAllocator() == &counting);  // restored
    if (active) {
      // 64-byte aligned slots of one block, one after the other.
      auto params = net->parameters();
      REQUIRE(params.size() == 6);
      std::vector<at::Tensor> by_addr(params.begin(), params.end());
      std::sort(by_addr.begin(), by_addr.end(),
                [](const at::Tensor& a, const at::Tensor& b) { return addr(a) < addr(b); });
      for (size_t i = 0; i < by_addr.size(); ++i) {
        CHECK(addr(by_addr[i]) % 64 == 0);
        if (i > 0) {
          const uintptr_t prev_end = addr(by_addr[i - 1]) + by_addr[i - 1].nbytes();
          CHECK(addr(by_addr[i]) >= prev_end);
          CHECK(addr(by_addr[i]) - prev_end < 64);
        }
      }
      CHECK(addr(big) % 64 == 0);
      CHECK(counting.big_made == 2);  // the first block, then one for the tensor that did not fit
      CHECK(counting.big_live == 2);  // held by the tensors in them, after the scope
      // Tensors made after the scope come from the allocator it replaced.
      auto later = torch::ones({16});
      CHECK((addr(later) < addr(by_addr.front()) || addr(later) >= addr(by_addr.back()) + by_addr.back().nbytes()));
    }
    // The same module as without the arena (the initialisers draw the same numbers), and usable.
    torch::manual_seed(0);
    torch::nn::Sequential ref(torch::nn::Linear(5, 7), torch::nn::Conv2d(3, 4, 3), torch::nn::GroupNorm(2, 4));
    auto p = net->parameters();
    auto rp = ref->parameters();
    for (size_t i = 0; i < p.size(); ++i) CHECK(at::equal(p[i], rp[i]));
    {
      torch::NoGradGuard ng;
      p[0].add_(1);
      CHECK(at::equal(p[0], rp[0] + 1));
    }
    p.clear();
    net = nullptr;
    ref = nullptr;
    if (active) CHECK(counting.big_live == 1);  // the second block: `big` still holds it
    big.reset();
    CHECK(counting.big_live == 0);  // every block back to the allocator
  }
  c10::SetCPUAllocator(plain, 0);
}
