// longvid::Error: the one exception type for problems a user can fix (bad path, bad checkpoint,
// bad config, bad option). `what()` is one line naming the problem; `hint()` optionally says
// what to do. tools/main.cpp prints "longvid: error: <what>" (+ hint) and exits non-zero.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace longvid {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, std::string hint = {})
      : std::runtime_error(what), hint_(std::move(hint)) {}
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string hint_;
};

// Throw a longvid::Error with a fmt-formatted message: LV_FAIL("{}: not a safetensors file", p).
template <typename... Args>
[[noreturn]] inline void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// Same, with a hint line.
template <typename... Args>
[[noreturn]] inline void fail_hint(std::string hint, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...), std::move(hint));
}

}  // namespace longvid
