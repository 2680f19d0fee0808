// longvid::Config: a read-only tree of settings read from a YAML or JSON file (official LVDM
// YAML configs are read as they are), with typed accessors whose errors name the file, the full
// key path and the problem in one line, e.g.
//   cfg.get<int>("model.params.unet_config.params.model_channels")
//   -> "model.params.unet_config.params.model_channels: expected an integer, got 'abc'
//       (sky.yaml line 12)"
//
// Paths are dot separated; list items are addressed by index, either as a segment ("a.b.0") or
// in brackets ("a.b[0]"). A Config is a cheap handle: nested configs returned by at() share the
// tree and remember their own key path, so their errors still name the full path.
//
// Scalars keep their source text; the type is decided when a value is read:
//   int / int64_t   decimal (or 0x hex) integer text;            "1.5", "abc" -> error
//   double / float  any number (ints too; .inf/.nan as in YAML);  "abc"       -> error
//   bool            true/false (also yes/no/on/off, any case);   "1"         -> error
//   std::string     any scalar, its text as written
//   std::vector<T>  a list whose items read as T
//   Config          the sub-tree (same as at())
// A key whose value is null (`~`, `null`, or empty) exists (has() is true, is_null() is true),
// but get<T>() on it is an error; get_or() returns the default for a missing or null key.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace longvid {

namespace detail {
struct ConfigNode;
}

class Config {
 public:
  // An empty mapping (no file).
  Config();

  // Reads a YAML or JSON file. The format is chosen by extension (.json -> JSON, .yaml/.yml ->
  // YAML), otherwise by content (a document starting with '{' or '[' is JSON). Throws
  // longvid::Error for a missing/unreadable file or a syntax error (with line and column).
  static Config load(const std::filesystem::path& path);

  // Parses YAML or JSON text. `source` names it in error messages.
  static Config parse_yaml(const std::string& text, const std::string& source = "<yaml>");
  static Config parse_json(const std::string& text, const std::string& source = "<json>");

  // True when `path` names an existing entry (possibly null).
  bool has(const std::string& path) const;

  // The value at `path`, converted to T (see the table above). Throws longvid::Error naming the
  // file, the full key path and the problem when the key is missing or the value does not fit.
  template <typename T>
  T get(const std::string& path) const;

  // Like get(), but returns `fallback` when the key is missing or null (a present value of the
  // wrong type is still an error).
  template <typename T>
  T get_or(const std::string& path, T fallback) const {
    if (!has(path) || at(path).is_null()) return fallback;
    return get<T>(path);
  }

  // The sub-tree at `path` (any kind of node). An empty path returns *this.
  Config at(const std::string& path) const;
  // The i-th item of a list (error if this is not a list or i is out of range).
  Config item(size_t i) const;

  bool is_map() const;
  bool is_list() const;
  bool is_scalar() const;
  bool is_null() const;
  // Number of entries of a map or items of a list; 0 for scalars and null.
  size_t size() const;

  // Keys of a mapping in document order (error if this is not a mapping).
  std::vector<std::string> keys() const;
  // (key, sub-tree) pairs of a mapping in document order.
  std::vector<std::pair<std::string, Config>> items() const;

  // The tree as JSON: plain YAML scalars that read as integers, floats, booleans or null become
  // JSON numbers/booleans/null, everything else (and every quoted scalar) a string.
  // indent < 0: one line; otherwise pretty-printed with that indent.
  std::string to_json(int indent = -1) const;

  // The file (or source name) the tree was read from, and this node's full key path ("" = root).
  const std::string& source() const;
  const std::string& key_path() const { return path_; }
  // 1-based line of this node in its source, 0 if unknown (JSON, or built in memory).
  int line() const;

 private:
  Config(std::shared_ptr<const detail::ConfigNode> root, std::shared_ptr<const std::string> source,
         const detail::ConfigNode* node, std::string path);
  // Finds `path` below this node; nullptr if missing. With `required`, throws instead.
  const detail::ConfigNode* find(const std::string& path, bool required, std::string* full) const;

  std::shared_ptr<const detail::ConfigNode> root_;  // keeps the tree alive
  std::shared_ptr<const std::string> source_;
  const detail::ConfigNode* node_ = nullptr;
  std::string path_;
};

// Supported get<T> types (explicitly instantiated in config.cpp).
extern template bool Config::get<bool>(const std::string&) const;
extern template int Config::get<int>(const std::string&) const;
extern template int64_t Config::get<int64_t>(const std::string&) const;
extern template double Config::get<double>(const std::string&) const;
extern template float Config::get<float>(const std::string&) const;
extern template std::string Config::get<std::string>(const std::string&) const;
extern template std::vector<int> Config::get<std::vector<int>>(const std::string&) const;
extern template std::vector<int64_t> Config::get<std::vector<int64_t>>(const std::string&) const;
extern template std::vector<double> Config::get<std::vector<double>>(const std::string&) const;
extern template std::vector<float> Config::get<std::vector<float>>(const std::string&) const;
extern template std::vector<std::string> Config::get<std::vector<std::string>>(const std::string&) const;
extern template Config Config::get<Config>(const std::string&) const;

}  // namespace longvid
