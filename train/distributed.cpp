#include "train/distributed.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>

#include "core/error.h"

// The wheel ships the c10d headers but not gloo's; gloo/ at the repository root declares what
// ProcessGroupGloo.hpp needs (see gloo/context.h). ProcessGroupGloo's code is in libtorch_cpu.
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace longvid {

namespace {

std::string env_or(const char* name, const std::string& fallback = {}) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int64_t env_int(const char* name, const std::string& value) {
  try {
    size_t used = 0;
    long long v = std::stoll(value, &used);
    if (used != value.size()) throw std::invalid_argument(value);
    return v;
  } catch (const std::exception&) {
    fail("{}='{}': expected an integer", name, value);
  }
}

class GlooGroup : public ProcessGroupHandle {
 public:
  GlooGroup(int rank, int world, const std::string& addr, int port, std::chrono::milliseconds timeout)
      : rank_(rank), world_(world), addr_(addr), port_(port) {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = world;
    so.waitWorkers = true;
    so.timeout = timeout;
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(addr, so);
      auto opts = c10d::ProcessGroupGloo::Options::create_default(timeout);
      if (opts->devices.empty()) {
        std::string ifname = env_or("GLOO_SOCKET_IFNAME");
        opts->devices.push_back(ifname.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                               : c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      }
      pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, rank, world, opts);
    } catch (const c10::Error& e) {
      fail("data parallel: cannot join the process group at {}:{} as rank {} of {}: {}", addr, port, rank, world,
           e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail("data parallel: cannot join the process group at {}:{} as rank {} of {}: {}", addr, port, rank, world,
           e.what());
    }
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }

  void sum(std::vector<at::Tensor>& tensors) override {
    if (tensors.empty()) return;
    // One flat float64-free buffer per dtype would be ideal; all our tensors share one dtype per
    // call. CUDA tensors are staged through the CPU (gloo reduces host memory).
    std::vector<at::Tensor> flat_parts;
    for (auto& t : tensors) flat_parts.push_back(t.detach().reshape({-1}).to(at::kCPU));
    at::Tensor flat = at::cat(flat_parts).contiguous();
    std::vector<at::Tensor> v{flat};
    auto work = pg_->allreduce(v, c10d::AllreduceOptions{});
    work->wait();
    int64_t off = 0;
    at::NoGradGuard ng;
    for (auto& t : tensors) {
      int64_t n = t.numel();
      t.copy_(flat.slice(0, off, off + n).view(t.sizes()));
      off += n;
    }
  }
  void average(std::vector<at::Tensor>& tensors) override {
    sum(tensors);
    at::NoGradGuard ng;
    for (auto& t : tensors) t.div_(static_cast<double>(world_));
  }
  void barrier() override {
    auto work = pg_->barrier(c10d::BarrierOptions{});
    work->wait();
  }
  std::string describe() const override {
    return fmt::format("gloo, rank {} of {}, master {}:{}", rank_, world_, addr_, port_);
  }

 private:
  int rank_, world_;
  std::string addr_;
  int port_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
};

}  // namespace

std::unique_ptr<ProcessGroupHandle> init_process_group_from_env(bool cuda, double timeout_s) {
  std::string ws = env_or("WORLD_SIZE");
  if (ws.empty()) return nullptr;
  int64_t world = env_int("WORLD_SIZE", ws);
  if (world < 1) fail("WORLD_SIZE={}: must be >= 1", world);
  if (world == 1) return nullptr;
  std::string rs = env_or("RANK");
  if (rs.empty()) fail("WORLD_SIZE={} but RANK is not set (set RANK=0..{} for each process)", world, world - 1);
  int64_t rank = env_int("RANK", rs);
  if (rank < 0 || rank >= world) fail("RANK={}: must be in 0..{} (WORLD_SIZE={})", rank, world - 1, world);
  std::string addr = env_or("MASTER_ADDR");
  if (addr.empty()) fail("WORLD_SIZE={}: MASTER_ADDR is not set (the host of rank 0)", world);
  std::string ps = env_or("MASTER_PORT");
  if (ps.empty()) fail("WORLD_SIZE={}: MASTER_PORT is not set", world);
  int64_t port = env_int("MASTER_PORT", ps);
  if (port < 1 || port > 65535) fail("MASTER_PORT={}: not a TCP port", port);
  (void)cuda;  // NCCL is not wired yet: CUDA gradients are reduced through gloo on the host.
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  return std::make_unique<GlooGroup>(static_cast<int>(rank), static_cast<int>(world), addr, static_cast<int>(port),
                                     timeout);
}

}  // namespace longvid
