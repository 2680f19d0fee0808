#include "backbones/t5_tokenizer.h"

#include <sentencepiece_processor.h>

#include "core/error.h"
#include "core/fs.h"

namespace longvid {

struct T5Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

T5Tokenizer::T5Tokenizer() : impl_(std::make_unique<Impl>()) {}
T5Tokenizer::T5Tokenizer(T5Tokenizer&&) noexcept = default;
T5Tokenizer& T5Tokenizer::operator=(T5Tokenizer&&) noexcept = default;
T5Tokenizer::~T5Tokenizer() = default;

T5Tokenizer T5Tokenizer::from_file(const std::filesystem::path& path_in) {
  std::filesystem::path path = path_in;
  if (std::filesystem::is_directory(path)) path /= "spiece.model";
  std::string bytes = read_text_file(path, "T5 tokenizer (spiece.model)");
  T5Tokenizer t;
  auto st = t.impl_->sp.LoadFromSerializedProto(bytes);
  if (!st.ok()) fail("{}: not a SentencePiece model: {}", path.string(), st.ToString());
  auto& sp = t.impl_->sp;
  // T5's special pieces: <pad> 0, </s> 1, <unk> 2.
  if (sp.PieceToId("</s>") != 1 || sp.pad_id() != 0)
    fail("{}: not a T5 SentencePiece model (needs <pad> = 0 and </s> = 1; has pad {}, </s> {})", path.string(),
         sp.pad_id(), sp.PieceToId("</s>"));
  return t;
}

std::vector<int64_t> T5Tokenizer::encode_tokens(const std::string& text) const {
  std::vector<int> ids;
  auto st = impl_->sp.Encode(text, &ids);
  if (!st.ok()) fail("T5 tokenizer: {}", st.ToString());
  return std::vector<int64_t>(ids.begin(), ids.end());
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

int64_t T5Tokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }

}  // namespace longvid
