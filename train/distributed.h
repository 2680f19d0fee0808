// Data parallelism: one process per device, gradients averaged over all processes every step.
// Launch like torchrun / Slurm: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment
// (rank 0 hosts the c10d TCPStore). Backend: c10d ProcessGroupGloo on CPU (ProcessGroupNCCL for
// CUDA tensors in the CUDA build).
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace longvid {

class ProcessGroupHandle {
 public:
  virtual ~ProcessGroupHandle() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place: each tensor becomes the mean of that tensor over all ranks.
  virtual void average(std::vector<at::Tensor>& tensors) = 0;
  // In place: the sum over ranks.
  virtual void sum(std::vector<at::Tensor>& tensors) = 0;
  virtual void barrier() = 0;
  virtual std::string describe() const = 0;
};

// WORLD_SIZE unset or 1: nullptr (single process). Otherwise connects (throws longvid::Error with
// the variable at fault: missing RANK, rank out of range, unreachable master, ...).
// timeout_s bounds the rendezvous and each collective.
std::unique_ptr<ProcessGroupHandle> init_process_group_from_env(bool cuda, double timeout_s = 300.0);

}  // namespace longvid
