// Prompts over time for long text-conditioned videos: a schedule of (first frame, prompt), e.g.
//   0: a calm sea
//   512: a storm at sea
// and the text conditioning of the long-video hierarchy it becomes (hierarchy/long_video.h
// LongVideoText): every latent takes the prompt in effect at its first frame, and a clip attends to
// the mean of its latents' prompt embeddings, so keyframe clips take the prompt of their time and an
// interpolation clip across a change blends the two prompts by how many of its latents each holds.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "hierarchy/long_video.h"

namespace longvid {

class VideoPipeline;
struct GenerateRequest;

using PromptSchedule = std::vector<std::pair<int64_t, std::string>>;  // (first frame, prompt), frames ascending

// True when every non-empty line of `text` reads "<frame>: <prompt>" (a schedule file, not a list
// of prompts).
bool is_prompt_schedule(const std::string& text);
// Parses such a file's text: frames must be >= 0, strictly increasing, the first one 0, prompts
// non-empty; one error line naming the line otherwise.
PromptSchedule parse_prompt_schedule(const std::string& text, const std::string& origin);
// The same rules on a schedule built in code (GenerateRequest::prompt_schedule); one error line.
void check_prompt_schedule(const PromptSchedule& s, const std::string& origin);

// The text conditioning of a long video for a text model: the request's schedule (or its one
// prompt from frame 0), its negative prompt and guidance scale (< 0: the model's default),
// encoded once per distinct prompt.
LongVideoText long_video_text(VideoPipeline& pipe, const GenerateRequest& req);

}  // namespace longvid
