#include <doctest/doctest.h>

#include <fstream>

#include "core/error.h"
#include "core/fs.h"
#include "core/progress.h"
#include "core/rng.h"
#include "tests/helpers.h"

using namespace longvid;

TEST_CASE("progress formatting") {
  CHECK(Progress::format_duration(5) == "5s");
  CHECK(Progress::format_duration(76) == "1m16s");
  CHECK(Progress::format_duration(3725) == "1h02m");
  CHECK(Progress::format_rate(2.314) == "2.31 s/it");
  CHECK(Progress::format_rate(0.25) == "4.00 it/s");
  Progress p("denoise", 20, /*enabled=*/false);
  p.update(17);
  auto line = p.render(20);
  CHECK(line.find("17/20") != std::string::npos);
  CHECK(line.find("|=================>  |") != std::string::npos);
}

TEST_CASE("atomic output leaves nothing behind on failure and replaces on success") {
  test::ScratchDir dir("fs");
  auto target = dir / "result.txt";
  CHECK_THROWS_AS(write_atomically(target, [](const std::filesystem::path& tmp) {
                    std::ofstream(tmp) << "half";
                    throw Error("boom");
                  }),
                  Error);
  CHECK(dir.entries().empty());
  write_atomically(target, [](const std::filesystem::path& tmp) { std::ofstream(tmp) << "whole"; });
  CHECK(dir.entries() == std::vector<std::string>{"result.txt"});
  CHECK_THROWS_WITH_AS(read_file_bytes(dir / "missing.bin"), doctest::Contains("no such file"), Error);
  CHECK_THROWS_WITH_AS(write_atomically(dir / "nodir" / "x.txt", [](const auto&) {}),
                       doctest::Contains("output directory does not exist"), Error);
}

TEST_CASE("seeded generators are reproducible") {
  auto a = torch::randn({16}, make_generator(42));
  auto b = torch::randn({16}, make_generator(42));
  auto c = torch::randn({16}, make_generator(43));
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
  CHECK(resolve_seed(7) == 7u);
  CHECK(resolve_seed(-1) < (1ULL << 53));
}

TEST_CASE("cli: --version, --help, unknown command") {
  auto v = test::run_cli({"--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("longvid " LONGVID_VERSION) == 0);
  auto h = test::run_cli({"--help"});
  CHECK(h.exit_code == 0);
  CHECK(h.out.find("commands:") != std::string::npos);
  auto u = test::run_cli({"frobnicate"});
  CHECK(u.exit_code == 2);
  CHECK(test::count_lines(u.err) == 1);
  CHECK(u.err.find("unknown command 'frobnicate'") != std::string::npos);
}
