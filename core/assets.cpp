#include "core/assets.h"

#include <algorithm>
#include <cstdlib>
#include <system_error>

#include "core/error.h"

#ifndef LONGVID_SOURCE_ASSETS
#define LONGVID_SOURCE_ASSETS ""
#endif

namespace longvid {

std::vector<std::filesystem::path> asset_search_dirs() {
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("LONGVID_ASSETS"); env && *env) dirs.emplace_back(env);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && !exe.empty()) {
    fs::path bin = exe.parent_path();
    dirs.push_back(bin.parent_path() / "assets");
    dirs.push_back(bin.parent_path() / "share" / "longvid" / "assets");
  }
  if (std::string(LONGVID_SOURCE_ASSETS).size() > 0) dirs.emplace_back(LONGVID_SOURCE_ASSETS);
  std::vector<fs::path> unique;
  for (auto& d : dirs) {
    fs::path n = d.lexically_normal();
    if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(n);
  }
  return unique;
}

std::filesystem::path find_asset(const std::string& relative, const std::string& hint) {
  std::string looked;
  for (const auto& d : asset_search_dirs()) {
    std::error_code ec;
    auto p = d / relative;
    if (std::filesystem::is_regular_file(p, ec)) return p;
    looked += (looked.empty() ? "" : ", ") + p.string();
  }
  fail("{} not found (looked in: {}){}{}", relative, looked.empty() ? "nowhere" : looked, hint.empty() ? "" : "; ",
       hint);
}

}  // namespace longvid
