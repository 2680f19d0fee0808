// The fixture generators (tests/data/gen/*.py) find the official LVDM code one way: --lvdm-src,
// else LVDM_SRC (tests/data/gen/lvdm_src.py), documented in tests/data/gen/README.md.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "tests/helpers.h"

namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("fixture generators: one way to find the official LVDM code (--lvdm-src or LVDM_SRC)") {
  const auto gen = longvid::test::data_dir() / "gen";
  int users = 0;
  for (const auto& e : std::filesystem::directory_iterator(gen)) {
    if (e.path().extension() != ".py" || e.path().filename() == "lvdm_src.py") continue;
    const std::string s = read(e.path());
    INFO(e.path().filename().string());
    CHECK(s.find("LVDM_ROOT") == std::string::npos);
    CHECK(s.find("\"--lvdm\"") == std::string::npos);
    // A script that imports official LVDM modules takes the path through lvdm_src.py.
    const std::string name = e.path().filename().string();
    const bool known_user = name == "gen_i3d.py" || name == "gen_long_video.py" || name == "gen_lvdm_ae3d.py" ||
                            name == "lvdm_unet3d.py" || name == "make_sampler_fixtures.py";
    const bool imports_lvdm = known_user || s.find("import lvdm.") != std::string::npos || s.find("from lvdm") != std::string::npos ||
                              s.find("scripts.fvd_utils") != std::string::npos ||
                              s.find("scripts.sample_long_videos_utils") != std::string::npos ||
                              s.find("lvdm.models") != std::string::npos;
    if (!imports_lvdm) continue;
    ++users;
    CHECK(s.find("import lvdm_src") != std::string::npos);
    CHECK(s.find("lvdm_src.add_argument(") != std::string::npos);
    CHECK(s.find("lvdm_src.use(") != std::string::npos);
    CHECK(s.find("sys.argv[") == std::string::npos);
  }
  CHECK(users >= 5);
  const std::string helper = read(gen / "lvdm_src.py");
  CHECK(helper.find("\"--lvdm-src\"") != std::string::npos);
  CHECK(helper.find("LVDM_SRC") != std::string::npos);
  const std::string readme = read(gen / "README.md");
  CHECK(readme.find("--lvdm-src") != std::string::npos);
  CHECK(readme.find("LVDM_SRC") != std::string::npos);
}
