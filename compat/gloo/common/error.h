// Declaration shim (longvid): the PyPI torch wheel ships libtorch_cpu with gloo compiled in and the
// c10d headers, but not gloo's own headers, which torch/csrc/distributed/c10d/ProcessGroupGloo.hpp
// includes. These files declare only what that header needs to compile (types it names through
// pointers, the rendezvous::Store interface its inline GlooStore overrides, Context::setTimeout);
// longvid only constructs ProcessGroupGloo and calls its collectives, whose code is in libtorch_cpu.
// Nothing here is gloo code; it must not be used for anything else.
#pragma once
#include <stdexcept>
namespace gloo {
struct Exception : public std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IoException : public Exception {
  using Exception::Exception;
};
}  // namespace gloo
