#include "core/fs.h"

#include <fstream>
#include <sstream>
#include <random>
#include <system_error>

#include "core/error.h"
#include "core/log.h"

namespace fs = std::filesystem;

namespace longvid {

fs::path temp_path_for(const fs::path& target) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  fs::path dir = target.parent_path();
  std::string name = "." + target.filename().string() + fmt::format(".tmp{:08x}", rng() & 0xffffffffu);
  // Keep the extension last: FFmpeg and friends choose formats by it.
  name += target.extension().string();
  return dir.empty() ? fs::path(name) : dir / name;
}

void write_text_atomically(const fs::path& target, const std::string& text) {
  write_atomically(target, [&](const fs::path& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    f << text;
    f.close();  // a full disk shows at the flush: check after it
    if (!f) fail("{}: write error (disk full?)", target.string());
  });
}

void remove_stale_temps(const fs::path& target) {
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string prefix = "." + target.filename().string() + ".tmp";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) == 0 && n.size() >= prefix.size() + 8) {
      spdlog::info("removing {} (left by the interrupted run)", e.path().string());
      fs::remove_all(e.path(), ec);
    }
  }
}

void write_atomically(const fs::path& target, const std::function<void(const fs::path&)>& write) {
  AtomicOutput out(target);
  write(out.temp());
  out.commit();
}

AtomicOutput::AtomicOutput(fs::path target) : target_(std::move(target)) {
  fs::path dir = target_.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail("{}: output directory does not exist", dir.string());
  }
  temp_ = temp_path_for(target_);
}

AtomicOutput::~AtomicOutput() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(temp_, ec);
  }
}

void AtomicOutput::commit() {
  std::error_code ec;
  if (fs::is_directory(temp_) && fs::exists(target_)) fs::remove_all(target_, ec);
  fs::rename(temp_, target_, ec);
  if (ec) fail("{}: cannot move the finished output into place: {}", target_.string(), ec.message());
  committed_ = true;
}

void require_readable_file(const fs::path& path, const char* what) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) fail("{}: no such {}", path.string(), what);
  if (fs::is_directory(st)) fail("{}: is a directory, expected a {}", path.string(), what);
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("{}: cannot open {} for reading", path.string(), what);
}

std::vector<uint8_t> read_file_bytes(const fs::path& path) {
  require_readable_file(path);
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  auto size = static_cast<std::streamsize>(f.tellg());
  std::vector<uint8_t> data(static_cast<size_t>(size));
  f.seekg(0);
  if (size > 0 && !f.read(reinterpret_cast<char*>(data.data()), size)) fail("{}: read error", path.string());
  return data;
}

std::string read_text_file(const fs::path& path, const char* what) {
  require_readable_file(path, what);
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) fail("{}: read error", path.string());
  return ss.str();
}

}  // namespace longvid
