// A C interface to Debian's libsentencepiece, built as its own module (liblongvid_spm.so) and opened
// by backbones/t5_tokenizer.cpp with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) only when a T5 tokenizer is
// made. Why: libsentencepiece exports its embedded absl / protobuf globals, among them
// `FLAGS_minloglevel`, which libc10 defines too. Linked into the process globally, sentencepiece's
// static initialiser constructs its flag object over libc10's 4-byte int and corrupts the c10 globals
// next to it (observed: TorchScript detectors deadlock on a c10 mutex). Loaded locally with deep
// binding, each library keeps its own symbols.
#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
void set_err(char* err, size_t n, const std::string& msg) {
  if (!err || n == 0) return;
  std::strncpy(err, msg.c_str(), n - 1);
  err[n - 1] = '\0';
}
}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* lv_spm_load(const char* bytes, size_t n, char* err, size_t errn) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  auto st = sp->LoadFromSerializedProto(std::string(bytes, n));
  if (!st.ok()) {
    set_err(err, errn, st.ToString());
    delete sp;
    return nullptr;
  }
  return sp;
}

__attribute__((visibility("default"))) void lv_spm_free(void* h) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(h);
}

// Encodes `text` into *ids (malloc'd, *count entries; free with lv_spm_free_ids). 0 on success.
__attribute__((visibility("default"))) int lv_spm_encode(void* h, const char* text, size_t n, int** ids, size_t* count,
                                                          char* err, size_t errn) {
  std::vector<int> v;
  auto st = static_cast<sentencepiece::SentencePieceProcessor*>(h)->Encode(std::string(text, n), &v);
  if (!st.ok()) {
    set_err(err, errn, st.ToString());
    return 1;
  }
  *count = v.size();
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (v.empty() ? 1 : v.size())));
  if (!v.empty()) std::memcpy(*ids, v.data(), sizeof(int) * v.size());
  return 0;
}

__attribute__((visibility("default"))) void lv_spm_free_ids(int* ids) { std::free(ids); }

__attribute__((visibility("default"))) int lv_spm_piece_size(void* h) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize();
}

__attribute__((visibility("default"))) int lv_spm_piece_to_id(void* h, const char* piece) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->PieceToId(piece);
}

__attribute__((visibility("default"))) int lv_spm_pad_id(void* h) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(h)->pad_id();
}

}  // extern "C"
