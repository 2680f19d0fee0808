// The T5 tokenizer: a SentencePiece unigram model (`spiece.model`) run by Debian's libsentencepiece
// (its own normalisation: the model's precompiled NFKC charsmap, white-space folding), with T5's
// framing as transformers' sentencepiece-backed T5Tokenizer and diffusers' Latte / PixArt pipelines
// call it: ids + </s> (1), truncated to max_length (the last slot keeps </s>), padded with <pad> (0);
// no BOS; the attention mask marks the real tokens.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace longvid {

struct T5Tokenized {
  std::vector<int64_t> ids;   // max_length ids (or the unpadded ids when max_length <= 0)
  std::vector<int64_t> mask;  // 1 for tokens (including </s>), 0 for padding
  int64_t length = 0;         // tokens + </s>, before padding
};

class T5Tokenizer {
 public:
  // spiece.model (a file, or a folder holding it: the tokenizer/ of a diffusers model).
  static T5Tokenizer from_file(const std::filesystem::path& spiece);
  T5Tokenizer(T5Tokenizer&&) noexcept;
  T5Tokenizer& operator=(T5Tokenizer&&) noexcept;
  ~T5Tokenizer();

  // The pieces' ids without </s> or padding.
  std::vector<int64_t> encode_tokens(const std::string& text) const;
  // Latte-1: max_length 120, padding "max_length", truncation, add_special_tokens.
  T5Tokenized encode(const std::string& text, int64_t max_length = 120) const;
  int64_t vocab_size() const;  // pieces of the model (the T5 embedding may have more rows: extra ids)
  int64_t eos_id() const { return eos_; }
  int64_t pad_id() const { return pad_; }

 private:
  T5Tokenizer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t eos_ = 1, pad_ = 0;
};

}  // namespace longvid
