// longvid: the public umbrella header for library users (find_package(longvid), longvid::longvid).
//
// It brings in the use-case API: loading a model (api/model.h), generating and extending videos
// (api/generate.h), the generated set of an FVD run (api/fvd.h), and frame sinks / video files
// (core/video_io.h). Everything is in namespace longvid; errors are thrown as longvid::Error.
//
// Example: the bundled default model, 16 frames into memory, then into a file.
//
//   #include <longvid/longvid.h>
//
//   longvid::VideoPipeline pipe = longvid::load_model(longvid::ModelSpec{});  // "": default model
//   longvid::GenerateRequest req;
//   req.frames = 16;
//   req.sampler.steps = 50;  // DDIM, eta 1 (LVDM's scripts)
//   longvid::MemorySink frames;
//   longvid::generate_video(pipe, req, frames);  // frames.size() == 16, frames.frame(i): RGB bytes
//   longvid::generate_video_file(pipe, req, "out.mp4", longvid::WriteOptions{});  // (.y4m without FFmpeg)
#pragma once

#include "api/model.h"
#include "api/generate.h"
#include "api/fvd.h"
#include "api/bench.h"
#include "api/interpolate.h"
#include "api/prompt_schedule.h"
#include "core/video_io.h"
