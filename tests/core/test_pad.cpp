// core/pad: replicate padding by copies equals ATen's replication_pad3d bit for bit.
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <vector>

#include "core/error.h"
#include "core/pad.h"

using namespace longvid;

TEST_CASE("replicate_pad3d equals F.pad(..., 'replicate') bit for bit, keeps the layout, refuses bad pads") {
  at::manual_seed(3);
  const std::vector<std::vector<int64_t>> pads = {
      {1, 1, 1, 1, 1, 1}, {1, 0, 1, 0, 1, 0}, {0, 0, 0, 0, 2, 1}, {2, 1, 0, 3, 1, 2}, {1, 1, 1, 1, 0, 0}};
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    for (const bool cl : {false, true}) {
      at::Tensor x = at::randn({2, 5, 3, 4, 6}).to(dtype);
      if (cl) x = x.contiguous(at::MemoryFormat::ChannelsLast3d);
      for (const auto& p : pads) {
        CAPTURE(cl);
        const at::Tensor want = at::replication_pad3d(x, p);
        const at::Tensor got = replicate_pad3d(x, p);
        CHECK(got.sizes() == want.sizes());
        CHECK(at::equal(got, want));
        CHECK(got.strides() == want.strides());
        CHECK(got.is_contiguous(cl ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous));
      }
    }
  }
  // A one-frame, one-pixel input: every value is the edge.
  at::Tensor one = at::randn({1, 3, 1, 1, 1});
  CHECK(at::equal(replicate_pad3d(one, {1, 1, 1, 1, 1, 1}), at::replication_pad3d(one, {1, 1, 1, 1, 1, 1})));
  CHECK_THROWS_AS(replicate_pad3d(at::randn({1, 3, 2, 2}), {1, 1, 1, 1, 1, 1}), Error);
  CHECK_THROWS_AS(replicate_pad3d(one, {1, 1, 1, 1}), Error);
  CHECK_THROWS_AS(replicate_pad3d(one, {-1, 1, 1, 1, 1, 1}), Error);
  CHECK_THROWS_AS(replicate_pad3d(at::randn({1, 3, 0, 2, 2}), {1, 1, 1, 1, 1, 1}), Error);
}
