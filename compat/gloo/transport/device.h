// Declaration shim (longvid): the PyPI torch wheel ships libtorch_cpu with gloo compiled in and the
// c10d headers, but not gloo's own headers, which torch/csrc/distributed/c10d/ProcessGroupGloo.hpp
// includes. These files declare only what that header needs to compile (types it names through
// pointers, the rendezvous::Store interface its inline GlooStore overrides, Context::setTimeout);
// longvid only constructs ProcessGroupGloo and calls its collectives, whose code is in libtorch_cpu.
// Nothing here is gloo code; it must not be used for anything else.
#pragma once
namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
