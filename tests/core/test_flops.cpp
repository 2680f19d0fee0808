// FlopCounter (core/flops.h): FLOPs from the shapes of the dispatched ops, each op counted once.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "core/flops.h"
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
