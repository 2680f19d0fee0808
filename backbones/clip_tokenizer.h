// The CLIP byte-level BPE tokenizer (openai/CLIP clip/simple_tokenizer.py; transformers
// CLIPTokenizer, which LVDM's FrozenCLIPEmbedder calls with max_length 77, padding "max_length",
// truncation) from its vocab.json + merges.txt, or from openai's bpe_simple_vocab_16e6.txt(.gz)
// merges alone (the vocabulary is then built as SimpleTokenizer does).
//
// Per prompt (transformers' tokenizers-backed CLIPTokenizer):
//   normalise   NFC, every run of Unicode white space -> " ", lower case (per code point, full
//               mapping: "İ" -> "i̇", no final-sigma rule)
//   split       <|startoftext|> | <|endoftext|> | 's | 't | 're | 've | 'm | 'll | 'd | \p{L}+ | \p{N} |
//               [^\s\p{L}\p{N}]+   (what matches nothing, i.e. white space, is dropped)
//   byte level  UTF-8 bytes of each piece -> GPT-2's bytes_to_unicode characters
//   BPE         the last symbol of each piece gets "</w>"; merges applied lowest rank first
//   frame       [BOS] + first (max_length - 2) tokens + [EOS], padded with `pad` to max_length
// Unicode classes (\p{L}, \p{N}, \s) and NFC come from ICU.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace longvid {

struct ClipTokenized {
  std::vector<int64_t> ids;  // max_length ids: BOS, tokens, EOS, padding
  int64_t length = 0;        // BOS + tokens + EOS (before padding)
};

class ClipTokenizer {
 public:
  // vocab.json + merges.txt (a tokenizer/ folder of a diffusers or transformers model).
  static ClipTokenizer from_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt);
  // A folder holding vocab.json and merges.txt.
  static ClipTokenizer from_dir(const std::filesystem::path& dir);
  // openai's bpe_simple_vocab_16e6.txt(.gz is not read: gunzip it first): merges only; the vocabulary
  // is bytes, bytes + "</w>", the merges, then <|startoftext|>, <|endoftext|> (SimpleTokenizer).
  static ClipTokenizer from_openai_merges(const std::filesystem::path& bpe_txt, int64_t num_merges = 49152 - 256 - 2);

  // Trains a byte-level BPE of the same format on a corpus (one text per entry, normalised and split
  // as prompts are): the vocabulary is the 256 byte characters, the same with "</w>", one token per
  // merge, then <|startoftext|> and <|endoftext|>, as CLIP's; merges are learned most frequent pair
  // first (ties: the smaller "A B" string) until no pair occurs twice or max_merges are made.
  // Deterministic: the same corpus gives the same files.
  static ClipTokenizer train(const std::vector<std::string>& corpus, int64_t max_merges);
  // Writes DIR/vocab.json and DIR/merges.txt (transformers' CLIPTokenizer reads them), each atomically.
  void save(const std::filesystem::path& dir) const;

  // Token ids of one prompt without BOS/EOS, padding or truncation.
  std::vector<int64_t> encode_tokens(const std::string& text) const;
  // FrozenCLIPEmbedder's call: BOS + tokens (truncated) + EOS, padded to max_length.
  ClipTokenized encode(const std::string& text, int64_t max_length = 77) const;
  // The pieces the pre-tokenizer makes of normalised text (exposed for tests / debugging).
  std::vector<std::string> pre_tokenize(const std::string& text) const;
  static std::string normalize(const std::string& text);

  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  int64_t bos_id() const { return bos_; }
  int64_t eos_id() const { return eos_; }
  int64_t pad_id() const { return pad_; }
  void set_pad_id(int64_t id) { pad_ = id; }

 private:
  std::vector<std::string> bpe(const std::string& piece) const;
  void finish(const std::string& origin);

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int64_t> ranks_;  // "a b" -> rank
  std::string byte_char_[256];
  int64_t bos_ = -1, eos_ = -1, pad_ = -1;
};

}  // namespace longvid
