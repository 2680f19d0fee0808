// Small file-system helpers: atomic writes (temp file + rename) and whole-file reads.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace longvid {

// A temporary path next to `target` (same directory, so rename() is atomic).
std::filesystem::path temp_path_for(const std::filesystem::path& target);

// Write a file atomically: `write` fills the temp path, then it is renamed onto `target`.
// If `write` throws, the temp file is removed and `target` is untouched.
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp)>& write);

// Write `text` to `target` atomically (write_atomically); a failed write (a full disk, also at the
// final flush) is one error naming `target`, and `target` is left as it was.
void write_text_atomically(const std::filesystem::path& target, const std::string& text);

// Removes the temp files (temp_path_for naming) a killed writer of `target` left next to it, logging each.
void remove_stale_temps(const std::filesystem::path& target);

// RAII guard for a temp file/dir that becomes `target` on commit(); removed otherwise.
class AtomicOutput {
 public:
  explicit AtomicOutput(std::filesystem::path target);
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;
  const std::filesystem::path& temp() const { return temp_; }
  const std::filesystem::path& target() const { return target_; }
  void commit();  // rename temp -> target (replacing it)

 private:
  std::filesystem::path target_, temp_;
  bool committed_ = false;
};

// Read a whole file; throws longvid::Error naming the path if it cannot.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

// Read a whole text file (configs); throws longvid::Error("<path>: no such <what>") etc.
std::string read_text_file(const std::filesystem::path& path, const char* what = "file");

// Throws longvid::Error("<path>: no such file") etc. when `path` is not a readable regular file.
void require_readable_file(const std::filesystem::path& path, const char* what = "file");

}  // namespace longvid
