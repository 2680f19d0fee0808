#include "backbones/clip_tokenizer.h"

#include <nlohmann/json.hpp>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/locid.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/fs.h"

namespace longvid {

namespace {

constexpr const char* kBos = "<|startoftext|>";
constexpr const char* kEos = "<|endoftext|>";

void append_utf8(std::string& out, UChar32 c) {
  icu::UnicodeString(c).toUTF8String(out);
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the others to 256 + n, in the order
// of the returned dict (the printable ranges first).
std::vector<std::pair<int, UChar32>> bytes_to_unicode() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<std::pair<int, UChar32>> m;
  for (int b : bs) m.emplace_back(b, b);
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) m.emplace_back(b, 256 + n++);
  return m;
}

bool is_letter(UChar32 c) { return u_isalpha(c); }  // general category L (Lu Ll Lt Lm Lo)
bool is_number(UChar32 c) {
  auto t = u_charType(c);
  return t == U_DECIMAL_DIGIT_NUMBER || t == U_LETTER_NUMBER || t == U_OTHER_NUMBER;
}
bool is_space(UChar32 c) { return u_isUWhiteSpace(c); }  // the White_Space property (Oniguruma's \s)

std::vector<std::string> read_lines(const std::filesystem::path& p, const char* what) {
  std::string text = read_text_file(p, what);
  std::vector<std::string> lines;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

std::string ClipTokenizer::normalize(const std::string& text) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
  if (U_FAILURE(err)) fail("CLIP tokenizer: ICU NFC normaliser unavailable ({})", u_errorName(err));
  icu::UnicodeString u = nfc->normalize(icu::UnicodeString::fromUTF8(text), err);
  if (U_FAILURE(err)) fail("CLIP tokenizer: NFC normalisation failed ({})", u_errorName(err));
  std::string out;
  bool in_space = false;
  for (int32_t i = 0; i < u.length();) {
    UChar32 c = u.char32At(i);
    i += U16_LENGTH(c);
    if (is_space(c)) {
      if (!in_space) out += ' ';
      in_space = true;
      continue;
    }
    in_space = false;
    // Lower case per code point (full mapping, as Rust's char::to_lowercase; no final-sigma context).
    icu::UnicodeString one(c);
    one.toLower(icu::Locale::getRoot());
    one.toUTF8String(out);
  }
  return out;
}

std::vector<std::string> ClipTokenizer::pre_tokenize(const std::string& normalized) const {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(normalized);
  std::vector<UChar32> cps;
  for (int32_t i = 0; i < u.length();) {
    UChar32 c = u.char32At(i);
    cps.push_back(c);
    i += U16_LENGTH(c);
  }
  std::vector<std::string> pieces;
  const size_t n = cps.size();
  auto piece = [&](size_t a, size_t b) {
    std::string s;
    for (size_t k = a; k < b; ++k) append_utf8(s, cps[k]);
    pieces.push_back(std::move(s));
  };
  size_t i = 0;
  while (i < n) {
    const UChar32 c = cps[i];
    if (c == '\'' && i + 1 < n) {  // 's | 't | 're | 've | 'm | 'll | 'd
      const UChar32 a = cps[i + 1], b = i + 2 < n ? cps[i + 2] : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        piece(i, i + 2);
        i += 2;
        continue;
      }
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        piece(i, i + 3);
        i += 3;
        continue;
      }
    }
    size_t j = i + 1;
    if (is_letter(c)) {
      while (j < n && is_letter(cps[j])) ++j;
    } else if (is_number(c)) {
      // one digit per piece
    } else if (is_space(c)) {
      ++i;  // matched by nothing: dropped
      continue;
    } else {
      while (j < n && !is_letter(cps[j]) && !is_number(cps[j]) && !is_space(cps[j])) ++j;
    }
    piece(i, j);
    i = j;
  }
  return pieces;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& piece) const {
  // Symbols: the byte-level characters of the piece, "</w>" on the last one.
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(byte_char_[b]);
  if (word.empty()) return word;
  word.back() += "</w>";
  while (word.size() > 1) {
    int64_t best = -1;
    size_t best_i = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + " " + word[i + 1]);
      if (it != ranks_.end() && (best < 0 || it->second < best)) {
        best = it->second;
        best_i = i;
      }
    }
    if (best < 0) break;
    // Merge every occurrence of that pair, left to right (openai SimpleTokenizer.bpe).
    const std::string first = word[best_i], second = word[best_i + 1];
    std::vector<std::string> merged;
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        ++i;
      }
    }
    word.swap(merged);
  }
  return word;
}

std::vector<int64_t> ClipTokenizer::encode_tokens(const std::string& text) const {
  std::vector<int64_t> ids;
  // Special tokens are matched in the raw text first (transformers' added tokens), then each
  // segment between them is normalised and split.
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nb = text.find(kBos, pos), ne = text.find(kEos, pos);
    size_t next = std::min(nb, ne);
    std::string seg = text.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    for (const auto& p : pre_tokenize(normalize(seg)))
      for (const auto& sym : bpe(p)) {
        auto it = vocab_.find(sym);
        ids.push_back(it == vocab_.end() ? eos_ : it->second);  // unk_token = <|endoftext|>
      }
    if (next == std::string::npos) break;
    ids.push_back(next == nb ? bos_ : eos_);
    pos = next + std::string(next == nb ? kBos : kEos).size();
  }
  return ids;
}

ClipTokenized ClipTokenizer::encode(const std::string& text, int64_t max_length) const {
  if (max_length < 2) fail("CLIP tokenizer: max_length {} leaves no room for BOS and EOS", max_length);
  std::vector<int64_t> tok = encode_tokens(text);
  if (static_cast<int64_t>(tok.size()) > max_length - 2) tok.resize(max_length - 2);
  ClipTokenized r;
  r.ids.push_back(bos_);
  r.ids.insert(r.ids.end(), tok.begin(), tok.end());
  r.ids.push_back(eos_);
  r.length = static_cast<int64_t>(r.ids.size());
  r.ids.resize(max_length, pad_);
  return r;
}

void ClipTokenizer::finish(const std::string& origin) {
  for (const auto& [b, c] : bytes_to_unicode()) {
    byte_char_[b].clear();
    append_utf8(byte_char_[b], c);
  }
  auto id = [&](const char* tok) -> int64_t {
    auto it = vocab_.find(tok);
    if (it == vocab_.end()) fail("{}: not a CLIP vocabulary: no '{}' token", origin, tok);
    return it->second;
  };
  bos_ = id(kBos);
  eos_ = id(kEos);
  pad_ = eos_;  // transformers' CLIPTokenizer: pad_token = <|endoftext|>
  for (int b = 0; b < 256; ++b)
    if (!vocab_.count(byte_char_[b]) || !vocab_.count(byte_char_[b] + "</w>"))
      fail("{}: not a CLIP byte-level vocabulary: byte {} ('{}') has no token", origin, b, byte_char_[b]);
}

ClipTokenizer ClipTokenizer::from_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt) {
  ClipTokenizer t;
  nlohmann::json v;
  try {
    v = nlohmann::json::parse(read_text_file(vocab_json, "CLIP vocab.json"));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a JSON vocabulary: {}", vocab_json.string(), e.what());
  }
  if (!v.is_object()) fail("{}: not a vocabulary (expected a JSON object token -> id)", vocab_json.string());
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer()) fail("{}: token '{}' has no integer id", vocab_json.string(), it.key());
    t.vocab_[it.key()] = it.value().get<int64_t>();
  }
  auto lines = read_lines(merges_txt, "CLIP merges.txt");
  int64_t rank = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto& l = lines[i];
    if (l.empty() || (i == 0 && l.rfind("#version", 0) == 0)) continue;
    auto sp = l.find(' ');
    if (sp == std::string::npos || l.find(' ', sp + 1) != std::string::npos)
      fail("{}:{}: not a merge ('A B'): '{}'", merges_txt.string(), i + 1, l);
    if (!t.vocab_.count(l.substr(0, sp) + l.substr(sp + 1)))
      fail("{}:{}: the merge '{}' makes a token the vocabulary {} lacks (vocab.json and merges.txt of different "
           "tokenizers?)",
           merges_txt.string(), i + 1, l, vocab_json.string());
    t.ranks_.emplace(l, rank++);
  }
  t.finish(vocab_json.string());
  return t;
}

ClipTokenizer ClipTokenizer::from_dir(const std::filesystem::path& dir) {
  return from_files(dir / "vocab.json", dir / "merges.txt");
}

ClipTokenizer ClipTokenizer::from_openai_merges(const std::filesystem::path& bpe_txt, int64_t num_merges) {
  auto lines = read_lines(bpe_txt, "CLIP BPE merges");
  if (static_cast<int64_t>(lines.size()) < num_merges + 1)
    fail("{}: {} lines, fewer than the {} merges asked for", bpe_txt.string(), lines.size(), num_merges);
  ClipTokenizer t;
  std::vector<std::string> vocab;
  auto table = bytes_to_unicode();
  for (const auto& [b, c] : table) {
    std::string s;
    append_utf8(s, c);
    vocab.push_back(s);
  }
  for (size_t i = 0; i < table.size(); ++i) vocab.push_back(vocab[i] + "</w>");
  for (int64_t i = 0; i < num_merges; ++i) {
    const auto& l = lines[i + 1];
    auto sp = l.find(' ');
    if (sp == std::string::npos) fail("{}:{}: not a merge ('A B'): '{}'", bpe_txt.string(), i + 2, l);
    vocab.push_back(l.substr(0, sp) + l.substr(sp + 1));
    t.ranks_.emplace(l, i);
  }
  vocab.push_back(kBos);
  vocab.push_back(kEos);
  for (size_t i = 0; i < vocab.size(); ++i) t.vocab_.emplace(vocab[i], static_cast<int64_t>(i));
  t.finish(bpe_txt.string());
  return t;
}

ClipTokenizer ClipTokenizer::train(const std::vector<std::string>& corpus, int64_t max_merges) {
  ClipTokenizer t;
  std::vector<std::string> vocab;
  for (const auto& [b, c] : bytes_to_unicode()) {
    std::string s;
    append_utf8(s, c);
    vocab.push_back(s);
  }
  const size_t nbytes = vocab.size();
  for (size_t i = 0; i < nbytes; ++i) vocab.push_back(vocab[i] + "</w>");
  for (size_t i = 0; i < vocab.size(); ++i) t.vocab_.emplace(vocab[i], static_cast<int64_t>(i));
  for (const auto& [b, c] : bytes_to_unicode()) {  // byte characters (finish() sets them again)
    t.byte_char_[b].clear();
    append_utf8(t.byte_char_[b], c);
  }
  // Word counts over the corpus, each word as its byte characters with "</w>" on the last.
  std::map<std::vector<std::string>, int64_t> words;
  for (const auto& text : corpus)
    for (const auto& piece : t.pre_tokenize(normalize(text))) {
      if (piece == kBos || piece == kEos) continue;
      std::vector<std::string> w;
      for (unsigned char b : piece) w.push_back(t.byte_char_[b]);
      if (w.empty()) continue;
      w.back() += "</w>";
      ++words[w];
    }
  std::vector<std::pair<std::vector<std::string>, int64_t>> ws(words.begin(), words.end());
  std::vector<std::string> merges;
  while (static_cast<int64_t>(merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [w, n] : ws)
      for (size_t i = 0; i + 1 < w.size(); ++i) pairs[{w[i], w[i + 1]}] += n;
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_n = 1;
    std::string best_s;
    for (const auto& [p, n] : pairs) {
      std::string ps = p.first + " " + p.second;
      if (n > best_n || (n == best_n && best && ps < best_s)) {
        best = &p;
        best_n = n;
        best_s = ps;
      }
    }
    if (!best) break;  // no pair occurs twice
    const std::string a = best->first, b = best->second, ab = a + b;
    for (auto& [w, n] : ws) {
      std::vector<std::string> out;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i + 1 < w.size() && w[i] == a && w[i + 1] == b) {
          out.push_back(ab);
          ++i;
        } else {
          out.push_back(w[i]);
        }
      }
      w = std::move(out);
    }
    t.ranks_.emplace(a + " " + b, static_cast<int64_t>(merges.size()));
    merges.push_back(a + " " + b);
    if (!t.vocab_.count(ab)) t.vocab_.emplace(ab, static_cast<int64_t>(t.vocab_.size()));
  }
  t.vocab_.emplace(kBos, static_cast<int64_t>(t.vocab_.size()));
  t.vocab_.emplace(kEos, static_cast<int64_t>(t.vocab_.size()));
  t.finish("<training>");
  return t;
}

void ClipTokenizer::save(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("{}: cannot create the tokenizer directory: {}", dir.string(), ec.message());
  std::vector<std::pair<int64_t, std::string>> by_id;
  for (const auto& [tok, id] : vocab_) by_id.emplace_back(id, tok);
  std::sort(by_id.begin(), by_id.end());
  nlohmann::ordered_json v = nlohmann::ordered_json::object();
  for (const auto& [id, tok] : by_id) v[tok] = id;
  std::vector<std::pair<int64_t, std::string>> merges;
  for (const auto& [m, r] : ranks_) merges.emplace_back(r, m);
  std::sort(merges.begin(), merges.end());
  std::string mtxt = "#version: 0.2\n";
  for (const auto& [r, m] : merges) mtxt += m + "\n";
  write_text_atomically(dir / "vocab.json", v.dump() + "\n");
  write_text_atomically(dir / "merges.txt", mtxt);
}

}  // namespace longvid
