#include "api/prompt_schedule.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cctype>
#include <map>
#include <memory>

#include "api/generate.h"
#include "core/error.h"
#include "core/log.h"
#include "pipeline/video_pipeline.h"

namespace longvid {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\f\v");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\f\v") - b + 1);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string::npos) j = text.size();
    out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// "<digits> :" at the start of a line: the length up to and including the colon, else 0.
size_t frame_prefix(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == 0) return 0;
  size_t j = i;
  while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
  return j < line.size() && line[j] == ':' ? j + 1 : 0;
}

}  // namespace

bool is_prompt_schedule(const std::string& text) {
  bool any = false;
  for (const auto& raw : lines_of(text)) {
    const std::string l = trim(raw);
    if (l.empty()) continue;
    if (frame_prefix(l) == 0) return false;
    any = true;
  }
  return any;
}

PromptSchedule parse_prompt_schedule(const std::string& text, const std::string& origin) {
  PromptSchedule s;
  const auto lines = lines_of(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string l = trim(lines[n]);
    if (l.empty()) continue;
    const size_t p = frame_prefix(l);
    if (p == 0) fail("{}:{}: expected '<frame>: <prompt>', got '{}'", origin, n + 1, l);
    int64_t frame = 0;
    try {
      frame = std::stoll(l.substr(0, p - 1));
    } catch (const std::exception&) {
      fail("{}:{}: frame number out of range in '{}'", origin, n + 1, l);
    }
    const std::string prompt = trim(l.substr(p));
    if (prompt.empty()) fail("{}:{}: frame {} has no prompt", origin, n + 1, frame);
    if (s.empty() && frame != 0) fail("{}:{}: the first prompt must start at frame 0, not {}", origin, n + 1, frame);
    if (!s.empty() && frame <= s.back().first)
      fail("{}:{}: frame {} does not come after frame {}", origin, n + 1, frame, s.back().first);
    s.emplace_back(frame, prompt);
  }
  if (s.empty()) fail("{}: the prompt schedule holds no prompt", origin);
  return s;
}

void check_prompt_schedule(const PromptSchedule& s, const std::string& origin) {
  if (s.empty()) fail("{}: holds no prompt", origin);
  if (s[0].first != 0) fail("{}: the first prompt must start at frame 0, not {}", origin, s[0].first);
  for (size_t i = 0; i < s.size(); ++i) {
    if (trim(s[i].second).empty()) fail("{}: frame {} has no prompt", origin, s[i].first);
    if (i > 0 && s[i].first <= s[i - 1].first)
      fail("{}: frame {} does not come after frame {}", origin, s[i].first, s[i - 1].first);
  }
}

LongVideoText long_video_text(VideoPipeline& pipe, const GenerateRequest& req) {
  if (!pipe.text_encoder) fail("the model is text-conditioned but no text encoder is loaded");
  if (req.has_prompt && !req.prompt_schedule.empty()) fail("give a prompt or a prompt schedule, not both");
  if (!req.prompt_schedule.empty()) check_prompt_schedule(req.prompt_schedule, "prompt schedule");
  const PromptSchedule sched = req.prompt_schedule.empty() ? PromptSchedule{{0, req.prompt}} : req.prompt_schedule;
  const double cfg = req.cfg_scale < 0 ? pipe.default_cfg_scale : req.cfg_scale;
  auto emb = std::make_shared<std::vector<at::Tensor>>();
  std::map<std::string, size_t> index;
  std::vector<size_t> of_entry;
  for (const auto& [f, p] : sched) {
    auto it = index.find(p);
    if (it == index.end()) {
      it = index.emplace(p, emb->size()).first;
      emb->push_back(pipe.text_encoder->encode({p}).to(at::kCPU, at::kFloat));
    }
    of_entry.push_back(it->second);
  }
  std::vector<int64_t> starts;
  for (const auto& e : sched) starts.push_back(e.first);
  const int64_t ft = pipe.factors()[0];
  LongVideoText t;
  t.uncond = pipe.text_encoder->encode({req.negative_prompt}).to(at::kCPU, at::kFloat);
  t.scale = cfg;
  t.context = [emb, starts, of_entry, ft](int64_t first, int64_t last) {
    // Each latent's prompt: the last entry starting at or before its first frame.
    std::vector<int64_t> count(emb->size(), 0);
    for (int64_t j = std::max<int64_t>(first, 0); j <= std::max<int64_t>(last, 0); ++j) {
      size_t e = 0;
      while (e + 1 < starts.size() && starts[e + 1] <= j * ft) ++e;
      ++count[of_entry[e]];
    }
    at::Tensor c;
    int64_t n = 0, distinct = 0;
    size_t only = 0;
    for (size_t i = 0; i < count.size(); ++i) {
      if (count[i] == 0) continue;
      c = c.defined() ? c + count[i] * (*emb)[i] : count[i] * (*emb)[i];
      n += count[i];
      ++distinct;
      only = i;
    }
    return distinct == 1 ? (*emb)[only] : c / static_cast<double>(n);  // one prompt: its embedding exactly
  };
  nlohmann::json id{{"schedule", sched}, {"negative", req.negative_prompt}, {"cfg", cfg}};
  t.id = id.dump();
  if (sched.size() == 1)
    spdlog::info("prompt \"{}\"{}, guidance scale {}", sched[0].second,
                 req.negative_prompt.empty() ? std::string() : " (negative \"" + req.negative_prompt + "\")", cfg);
  else
    spdlog::info("prompt schedule of {} prompts (from frames {}), guidance scale {}", sched.size(),
                 fmt::format("{}", fmt::join(starts, ", ")), cfg);
  return t;
}

}  // namespace longvid
