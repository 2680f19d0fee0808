// FlopCounter (core/flops.h): FLOPs from the shapes of the dispatched ops, each op counted once;
// OpProfile (core/op_profile.h): self time per op.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <chrono>
#include <string>

#include "core/flops.h"
#include "core/op_profile.h"
#include "core/process_stats.h"

using namespace longvid;

TEST_CASE("flops: matmuls, convolutions (also transposed) and SDPA are counted from their shapes, once") {
  torch::NoGradGuard ng;
  auto a = torch::randn({64, 32}), b = torch::randn({32, 16});
  {
    FlopCounter c;
    torch::mm(a, b);
    CHECK(c.flops() == 2.0 * 64 * 32 * 16);
  }
  {
    FlopCounter c;  // Linear on a 3-D input: one addmm/mm, not linear + matmul + mm
    torch::linear(torch::randn({2, 10, 32}), torch::randn({16, 32}), torch::randn({16}));
    CHECK(c.flops() == 2.0 * 2 * 10 * 32 * 16);
  }
  {
    FlopCounter c;
    torch::bmm(torch::randn({3, 5, 7}), torch::randn({3, 7, 4}));
    CHECK(c.flops() == 2.0 * 3 * 5 * 7 * 4);
  }
  {
    FlopCounter c;  // [1, 4, 8, 8] * [6, 4, 3, 3] pad 1 -> [1, 6, 8, 8]
    torch::conv2d(torch::randn({1, 4, 8, 8}), torch::randn({6, 4, 3, 3}), {}, 1, 1);
    CHECK(c.flops() == 2.0 * (6 * 8 * 8) * 4 * 9);
  }
  {
    FlopCounter c;  // 3-D, grouped
    torch::conv3d(torch::randn({2, 4, 3, 6, 6}), torch::randn({8, 2, 1, 3, 3}), {}, 1, {0, 1, 1}, 1, 2);
    CHECK(c.flops() == 2.0 * (2 * 8 * 3 * 6 * 6) * 2 * 9);
  }
  {
    FlopCounter c;  // oneDNN and im2col + GEMM called directly (longvid::conv3d picks them): the same count
    auto x = torch::randn({1, 4, 3, 6, 6}), w = torch::randn({8, 4, 1, 3, 3});
    at::mkldnn_convolution(x, w, {}, {0, 1, 1}, {1, 2, 2}, {1, 1, 1}, 1);
    CHECK(c.flops() == 2.0 * (8 * 3 * 3 * 3) * 4 * 9);
    at::slow_conv3d(x, w, {1, 3, 3}, {}, {1, 1, 1}, {0, 1, 1});
    CHECK(c.flops() == 2.0 * (8 * 3 * 3 * 3) * 4 * 9 + 2.0 * (8 * 3 * 6 * 6) * 4 * 9);
  }
  {
    FlopCounter c;  // transposed: every input element feeds Cout/groups * k outputs
    torch::conv_transpose2d(torch::randn({1, 4, 5, 5}), torch::randn({4, 3, 2, 2}), {}, 2);
    CHECK(c.flops() == 2.0 * (4 * 5 * 5) * 3 * 4);
  }
  {
    FlopCounter c;  // SDPA: QK^T and AV; the kernel's inner ops are not counted again
    auto q = torch::randn({2, 3, 10, 8}), k = torch::randn({2, 3, 12, 8}), v = torch::randn({2, 3, 12, 5});
    at::scaled_dot_product_attention(q, k, v);
    CHECK(c.flops() == 2.0 * 2 * 3 * 10 * 12 * 8 + 2.0 * 2 * 3 * 10 * 12 * 5);
    torch::relu(q);  // not counted
    CHECK(c.flops() == 2.0 * 2 * 3 * 10 * 12 * 8 + 2.0 * 2 * 3 * 10 * 12 * 5);
  }
  {
    FlopCounter outer;
    FlopCounter inner;  // a second counter on the thread sees nothing; the first keeps counting
    torch::mm(a, b);
    CHECK(inner.flops() == 0);
    CHECK(outer.flops() == 2.0 * 64 * 32 * 16);
  }
  FlopCounter after;
  CHECK(after.flops() == 0);
}

TEST_CASE("process stats: RSS and its peak are read, and the peak can be reset") {
  CHECK(rss_kib() > 0);
  CHECK(peak_rss_kib() >= rss_kib());
  if (reset_peak_rss()) CHECK(peak_rss_kib() <= rss_kib() + 1024);
}

TEST_CASE("op profile: self time and calls per op, nested ops not counted twice") {
  torch::NoGradGuard ng;
  auto a = torch::randn({256, 256}), b = torch::randn({256, 256});
  const auto t0 = std::chrono::steady_clock::now();
  OpProfile p;
  for (int i = 0; i < 3; ++i) torch::mm(a, b);
  torch::linear(a, b);  // aten::linear dispatches aten::t and aten::matmul -> aten::mm: self times split
  {
    OpProfile nested;  // a second profile on the thread records nothing; the first goes on
    torch::relu(a);
    CHECK(nested.ops().empty());
  }
  const auto ops = p.ops();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto find = [&](const std::string& name) -> const OpTime* {
    for (const auto& o : ops)
      if (o.name == name) return &o;
    return nullptr;
  };
  const OpTime* mm = find("aten::mm");
  const OpTime* linear = find("aten::linear");
  const OpTime* relu = find("aten::relu");
  REQUIRE(mm != nullptr);
  REQUIRE(linear != nullptr);
  REQUIRE(relu != nullptr);
  CHECK(mm->calls == 4);
  CHECK(linear->calls == 1);
  CHECK(relu->calls == 1);
  CHECK(mm->self_s > 0);
  CHECK(linear->self_s < mm->self_s);  // its matmul's time is the mm's, not its own
  for (size_t i = 1; i < ops.size(); ++i) CHECK(ops[i - 1].self_s >= ops[i].self_s);  // sorted
  CHECK(p.total_s() <= wall);  // self times never add up to more than the time that passed
}
