// Library consumer: a tiny random-weight model, 8 frames into memory; exits 0 only if all 8 arrive.
#include <longvid/longvid.h>

#include <cstdio>
#include <exception>

int main() {
  try {
    longvid::ModelSpec spec;
    spec.model = "random";
    longvid::VideoPipeline pipe = longvid::load_model(spec);
    longvid::GenerateRequest req;
    req.frames = 8;
    req.sampler.method = "ddim";
    req.sampler.steps = 2;
    req.show_progress = false;
    longvid::MemorySink sink;
    const int64_t written = longvid::generate_video(pipe, req, sink);
    std::printf("frames: %lld (returned %lld, %dx%d)\n", static_cast<long long>(sink.size()),
                static_cast<long long>(written), sink.width(), sink.height());
    return sink.size() == 8 && written == 8 && sink.closed() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 2;
  }
}
