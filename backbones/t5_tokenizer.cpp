#include "backbones/t5_tokenizer.h"

#include <dlfcn.h>

#include <mutex>

#include "core/error.h"
#include "core/fs.h"

#ifndef LONGVID_SPM_MODULE
#define LONGVID_SPM_MODULE "liblongvid_spm.so"
#endif

namespace longvid {

namespace {

// libsentencepiece through its shim module (backbones/spm_shim/spm_shim.cpp explains why it is
// loaded locally): LONGVID_SPM_MODULE (the build's path), else the installed library directory, else
// the loader's search path; the environment variable LONGVID_SPM_MODULE overrides.
struct Spm {
  void* (*load)(const char*, size_t, char*, size_t) = nullptr;
  void (*free_)(void*) = nullptr;
  int (*encode)(void*, const char*, size_t, int**, size_t*, char*, size_t) = nullptr;
  void (*free_ids)(int*) = nullptr;
  int (*piece_size)(void*) = nullptr;
  int (*piece_to_id)(void*, const char*) = nullptr;
  int (*pad_id)(void*) = nullptr;
};

const Spm& spm() {
  static Spm s;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::vector<std::string> tries;
    if (const char* env = std::getenv("LONGVID_SPM_MODULE")) tries.emplace_back(env);
    tries.emplace_back(LONGVID_SPM_MODULE);
#ifdef LONGVID_SPM_INSTALLED
    tries.emplace_back(LONGVID_SPM_INSTALLED);
#endif
    tries.emplace_back("liblongvid_spm.so");
    void* h = nullptr;
    std::string last;
    for (const auto& t : tries) {
      h = ::dlopen(t.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (h) break;
      const char* e = ::dlerror();
      last = e ? e : t;
    }
    if (!h) {
      error = "the SentencePiece module (liblongvid_spm.so) could not be loaded: " + last;
      return;
    }
    auto sym = [&](const char* n) { return ::dlsym(h, n); };
    s.load = reinterpret_cast<decltype(s.load)>(sym("lv_spm_load"));
    s.free_ = reinterpret_cast<decltype(s.free_)>(sym("lv_spm_free"));
    s.encode = reinterpret_cast<decltype(s.encode)>(sym("lv_spm_encode"));
    s.free_ids = reinterpret_cast<decltype(s.free_ids)>(sym("lv_spm_free_ids"));
    s.piece_size = reinterpret_cast<decltype(s.piece_size)>(sym("lv_spm_piece_size"));
    s.piece_to_id = reinterpret_cast<decltype(s.piece_to_id)>(sym("lv_spm_piece_to_id"));
    s.pad_id = reinterpret_cast<decltype(s.pad_id)>(sym("lv_spm_pad_id"));
    if (!s.load || !s.free_ || !s.encode || !s.free_ids || !s.piece_size || !s.piece_to_id || !s.pad_id) {
      error = "liblongvid_spm.so lacks its entry points (a module of another version?)";
      s = Spm{};
    }
  });
  if (!s.load) fail("T5 tokenizer: {}", error);
  return s;
}

}  // namespace

struct T5Tokenizer::Impl {
  void* h = nullptr;
  ~Impl() {
    if (h) spm().free_(h);
  }
};

T5Tokenizer::T5Tokenizer() : impl_(std::make_unique<Impl>()) {}
T5Tokenizer::T5Tokenizer(T5Tokenizer&&) noexcept = default;
T5Tokenizer& T5Tokenizer::operator=(T5Tokenizer&&) noexcept = default;
T5Tokenizer::~T5Tokenizer() = default;

T5Tokenizer T5Tokenizer::from_file(const std::filesystem::path& path_in) {
  std::filesystem::path path = path_in;
  if (std::filesystem::is_directory(path)) path /= "spiece.model";
  std::string bytes = read_text_file(path, "T5 tokenizer (spiece.model)");
  const Spm& s = spm();
  T5Tokenizer t;
  char err[512] = {0};
  t.impl_->h = s.load(bytes.data(), bytes.size(), err, sizeof(err));
  if (!t.impl_->h) fail("{}: not a SentencePiece model: {}", path.string(), err);
  // T5's special pieces: <pad> 0, </s> 1, <unk> 2.
  if (s.piece_to_id(t.impl_->h, "</s>") != 1 || s.pad_id(t.impl_->h) != 0)
    fail("{}: not a T5 SentencePiece model (needs <pad> = 0 and </s> = 1; has pad {}, </s> {})", path.string(),
         s.pad_id(t.impl_->h), s.piece_to_id(t.impl_->h, "</s>"));
  return t;
}

std::vector<int64_t> T5Tokenizer::encode_tokens(const std::string& text) const {
  const Spm& s = spm();
  int* ids = nullptr;
  size_t n = 0;
  char err[512] = {0};
  if (s.encode(impl_->h, text.data(), text.size(), &ids, &n, err, sizeof(err)) != 0) fail("T5 tokenizer: {}", err);
  std::vector<int64_t> out(ids, ids + n);
  s.free_ids(ids);
  return out;
}

T5Tokenized T5Tokenizer::encode(const std::string& text, int64_t max_length) const {
  T5Tokenized r;
  r.ids = encode_tokens(text);
  if (max_length > 0 && static_cast<int64_t>(r.ids.size()) > max_length - 1) r.ids.resize(max_length - 1);
  r.ids.push_back(eos_);
  r.length = static_cast<int64_t>(r.ids.size());
  r.mask.assign(r.ids.size(), 1);
  if (max_length > 0) {
    r.ids.resize(max_length, pad_);
    r.mask.resize(max_length, 0);
  }
  return r;
}

int64_t T5Tokenizer::vocab_size() const { return spm().piece_size(impl_->h); }

}  // namespace longvid
