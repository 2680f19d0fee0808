// OpProfile — see op_profile.h.
#include "core/op_profile.h"

#include <ATen/record_function.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <unordered_map>

namespace longvid {

namespace {

using Clock = std::chrono::steady_clock;

struct State {
  bool active = false;
  uint64_t generation = 0;  // one per profile, so an op that began under an earlier one is not counted
  std::vector<double> children_s;  // per open op: the time of the ops it dispatched
  std::unordered_map<std::string, OpTime> ops;
};

State& state() {
  thread_local State s;
  return s;
}

struct Ctx : at::ObserverContext {
  Clock::time_point start;
  uint64_t generation = 0;
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction&) {
  State& s = state();
  s.children_s.push_back(0.0);
  auto ctx = std::make_unique<Ctx>();
  ctx->generation = s.generation;
  ctx->start = Clock::now();
  return ctx;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* c) {
  State& s = state();
  auto* ctx = static_cast<Ctx*>(c);
  if (!ctx || !s.active || ctx->generation != s.generation || s.children_s.empty()) return;
  const double total = std::chrono::duration<double>(Clock::now() - ctx->start).count();
  const double children = s.children_s.back();
  s.children_s.pop_back();
  if (!s.children_s.empty()) s.children_s.back() += total;
  OpTime& t = s.ops[fn.name()];
  if (t.name.empty()) t.name = fn.name();
  t.self_s += std::max(0.0, total - children);
  ++t.calls;
}

}  // namespace

OpProfile::OpProfile() {
  State& s = state();
  if (s.active) return;
  s.active = active_ = true;
  ++s.generation;
  s.children_s.clear();
  s.ops.clear();
  handle_ =
      at::addThreadLocalCallback(at::RecordFunctionCallback(on_start, on_end).scopes({at::RecordScope::FUNCTION}));
}

OpProfile::~OpProfile() {
  if (!active_) return;
  at::removeCallback(handle_);
  state().active = false;
}

std::vector<OpTime> OpProfile::ops() const {
  std::vector<OpTime> out;
  if (!active_) return out;
  for (const auto& [name, t] : state().ops) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.self_s > b.self_s; });
  return out;
}

double OpProfile::total_s() const {
  double s = 0;
  for (const auto& t : ops()) s += t.self_s;
  return s;
}

}  // namespace longvid
