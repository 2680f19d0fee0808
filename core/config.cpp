#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/fs.h"

namespace longvid {

namespace detail {
struct ConfigNode {
  enum class Kind { Null, Scalar, Map, List };
  Kind kind = Kind::Null;
  std::string text;     // scalar text as written
  bool quoted = false;  // a quoted/tagged YAML scalar or a JSON string: always a string
  int line = 0;         // 1-based; 0 = unknown
  std::vector<std::pair<std::string, std::unique_ptr<ConfigNode>>> map;
  std::vector<std::unique_ptr<ConfigNode>> list;

  const ConfigNode* child(const std::string& key) const {
    for (const auto& [k, v] : map)
      if (k == key) return v.get();
    return nullptr;
  }
};
}  // namespace detail

using detail::ConfigNode;
using Kind = ConfigNode::Kind;

namespace {

// Keeps error messages on one line and of bounded length.
std::string one_line(const std::string& s, size_t max_len = 60) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  if (out.size() > max_len) out = out.substr(0, max_len) + "...";
  return out;
}

std::string describe(const ConfigNode& n) {
  switch (n.kind) {
    case Kind::Null: return "null";
    case Kind::Map: return "a mapping";
    case Kind::List: return "a list";
    case Kind::Scalar: return "'" + one_line(n.text) + "'";
  }
  return "?";
}

std::string where(const std::string& source, const ConfigNode& n) {
  if (n.line > 0) return fmt::format("({} line {})", source, n.line);
  return fmt::format("({})", source);
}

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}
std::string index_path(const std::string& parent, size_t i) {
  return fmt::format("{}[{}]", parent, i);
}

// "a.b[0].c" -> {"a", "b", "0", "c"}; empty path -> {}.
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> segs;
  if (path.empty()) return segs;
  std::string cur;
  bool after_bracket = false;
  auto push = [&](bool allow_empty) {
    if (cur.empty() && !allow_empty) fail("invalid config key path '{}': empty segment", path);
    if (!cur.empty()) segs.push_back(cur);
    cur.clear();
  };
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '.') {
      push(after_bracket);
      after_bracket = false;
    } else if (c == '[') {
      push(after_bracket || i == 0);
      size_t close = path.find(']', i);
      if (close == std::string::npos) fail("invalid config key path '{}': unclosed '['", path);
      cur = path.substr(i + 1, close - i - 1);
      push(false);
      i = close;
      after_bracket = true;
    } else {
      if (after_bracket) fail("invalid config key path '{}': expected '.' or '[' after ']'", path);
      cur += c;
    }
  }
  if (!after_bracket) push(false);
  return segs;
}

bool parse_index(const std::string& s, size_t* out) {
  if (s.empty() || s.size() > 12) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *out = std::stoull(s);
  return true;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Integer text: [+-]digits, or [+-]0x hex. Returns false if it is not an integer at all; sets
// *overflow if it is one but does not fit in int64.
bool parse_int64(const std::string& text, int64_t* out, bool* overflow) {
  *overflow = false;
  std::string s = trim(text);
  if (s.empty()) return false;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i = 1;
  }
  int base = 10;
  if (s.size() > i + 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
    base = 16;
    i += 2;
  }
  if (i >= s.size()) return false;
  uint64_t mag = 0;
  const char* b = s.data() + i;
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, mag, base);
  if (p != e) return false;
  if (ec == std::errc::result_out_of_range) {
    *overflow = true;
    return true;
  }
  if (ec != std::errc()) return false;
  if (neg) {
    if (mag > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
      *overflow = true;
      return true;
    }
    *out = static_cast<int64_t>(0 - mag);
  } else {
    if (mag > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      *overflow = true;
      return true;
    }
    *out = static_cast<int64_t>(mag);
  }
  return true;
}

// Number text: anything std::from_chars reads as a double (decimal, exponent), plus the YAML
// spellings .inf / -.inf / .nan. Words like "inf" or "nan" are not numbers here.
bool parse_double(const std::string& text, double* out) {
  std::string s = trim(text);
  if (s.empty()) return false;
  std::string l = lower(s);
  if (l == ".inf" || l == "+.inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (l == "-.inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (l == ".nan") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  for (char c : l)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-'))
      return false;
  const char* b = s.data();
  if (*b == '+') ++b;
  const char* e = s.data() + s.size();
  auto [p, ec] = std::from_chars(b, e, *out, std::chars_format::general);
  return p == e && ec == std::errc();
}

// YAML 1.1 and 1.2 booleans (OmegaConf reads yes/no/on/off as booleans too).
bool parse_bool(const std::string& text, bool* out) {
  std::string l = lower(trim(text));
  if (l == "true" || l == "yes" || l == "on") {
    *out = true;
    return true;
  }
  if (l == "false" || l == "no" || l == "off") {
    *out = false;
    return true;
  }
  return false;
}

// ---- reading YAML / JSON into ConfigNode trees ---------------------------------------------------

std::unique_ptr<ConfigNode> from_yaml(const YAML::Node& y, const std::string& source) {
  auto n = std::make_unique<ConfigNode>();
  if (y.Mark().line >= 0 && !y.Mark().is_null()) n->line = y.Mark().line + 1;
  switch (y.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null: n->kind = Kind::Null; break;
    case YAML::NodeType::Scalar: {
      n->kind = Kind::Scalar;
      n->text = y.Scalar();
      const std::string& tag = y.Tag();
      // "?" = plain scalar (type resolved later); "!" = quoted; "tag:yaml.org,2002:str" = !!str.
      n->quoted = tag == "!" || (tag.size() >= 4 && tag.compare(tag.size() - 4, 4, ":str") == 0);
      break;
    }
    case YAML::NodeType::Sequence:
      n->kind = Kind::List;
      for (const auto& item : y) n->list.push_back(from_yaml(item, source));
      break;
    case YAML::NodeType::Map:
      n->kind = Kind::Map;
      for (const auto& kv : y) {
        const YAML::Node& k = kv.first;
        int kline = k.Mark().is_null() ? 0 : k.Mark().line + 1;
        if (!k.IsScalar())
          fail("{}: line {}: mapping keys must be plain scalars", source, kline);
        std::string key = k.Scalar();
        if (n->child(key))
          fail("{}: line {}: duplicate key '{}'", source, kline, one_line(key));
        n->map.emplace_back(key, from_yaml(kv.second, source));
        // A null value has no mark of its own; point at its key.
        if (n->map.back().second->line == 0) n->map.back().second->line = kline;
      }
      break;
  }
  return n;
}

std::unique_ptr<ConfigNode> from_json(const nlohmann::ordered_json& j) {
  auto n = std::make_unique<ConfigNode>();
  if (j.is_null()) {
    n->kind = Kind::Null;
  } else if (j.is_object()) {
    n->kind = Kind::Map;
    for (const auto& [k, v] : j.items()) n->map.emplace_back(k, from_json(v));
  } else if (j.is_array()) {
    n->kind = Kind::List;
    for (const auto& v : j) n->list.push_back(from_json(v));
  } else if (j.is_string()) {
    n->kind = Kind::Scalar;
    n->text = j.get<std::string>();
    n->quoted = true;
  } else {  // number or boolean
    n->kind = Kind::Scalar;
    n->text = j.dump();
  }
  return n;
}

nlohmann::ordered_json to_json_value(const ConfigNode& n) {
  switch (n.kind) {
    case Kind::Null: return nullptr;
    case Kind::Map: {
      auto j = nlohmann::ordered_json::object();
      for (const auto& [k, v] : n.map) j[k] = to_json_value(*v);
      return j;
    }
    case Kind::List: {
      auto j = nlohmann::ordered_json::array();
      for (const auto& v : n.list) j.push_back(to_json_value(*v));
      return j;
    }
    case Kind::Scalar: {
      if (n.quoted) return n.text;
      int64_t i;
      bool overflow;
      double d;
      if (parse_int64(n.text, &i, &overflow) && !overflow) return i;
      if (parse_double(n.text, &d) && std::isfinite(d)) return d;
      std::string l = lower(trim(n.text));
      if (l == "true") return true;
      if (l == "false") return false;
      return n.text;
    }
  }
  return nullptr;
}

// ---- typed conversion ---------------------------------------------------------------------------

template <typename T>
struct Conv;

[[noreturn]] void type_error(const std::string& path, const std::string& source, const ConfigNode& n,
                             const char* expected, const std::string& extra = {}) {
  fail("{}: expected {}, got {}{} {}", path.empty() ? "<root>" : path, expected, describe(n), extra,
       where(source, n));
}

template <>
struct Conv<int64_t> {
  static int64_t from(const ConfigNode& n, const std::string& path, const std::string& src) {
    int64_t v;
    bool overflow;
    if (n.kind != Kind::Scalar || !parse_int64(n.text, &v, &overflow)) type_error(path, src, n, "an integer");
    if (overflow) type_error(path, src, n, "an integer", " (out of range)");
    return v;
  }
};
template <>
struct Conv<int> {
  static int from(const ConfigNode& n, const std::string& path, const std::string& src) {
    int64_t v = Conv<int64_t>::from(n, path, src);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      type_error(path, src, n, "a 32-bit integer", " (out of range)");
    return static_cast<int>(v);
  }
};
template <>
struct Conv<double> {
  static double from(const ConfigNode& n, const std::string& path, const std::string& src) {
    double v;
    if (n.kind != Kind::Scalar || !parse_double(n.text, &v)) type_error(path, src, n, "a number");
    return v;
  }
};
template <>
struct Conv<float> {
  static float from(const ConfigNode& n, const std::string& path, const std::string& src) {
    return static_cast<float>(Conv<double>::from(n, path, src));
  }
};
template <>
struct Conv<bool> {
  static bool from(const ConfigNode& n, const std::string& path, const std::string& src) {
    bool v;
    if (n.kind != Kind::Scalar || !parse_bool(n.text, &v)) type_error(path, src, n, "a boolean (true/false)");
    return v;
  }
};
template <>
struct Conv<std::string> {
  static std::string from(const ConfigNode& n, const std::string& path, const std::string& src) {
    if (n.kind != Kind::Scalar) type_error(path, src, n, "a string");
    return n.text;
  }
};
template <typename E>
struct Conv<std::vector<E>> {
  static std::vector<E> from(const ConfigNode& n, const std::string& path, const std::string& src) {
    if (n.kind != Kind::List) type_error(path, src, n, "a list");
    std::vector<E> out;
    out.reserve(n.list.size());
    for (size_t i = 0; i < n.list.size(); ++i) out.push_back(Conv<E>::from(*n.list[i], index_path(path, i), src));
    return out;
  }
};

}  // namespace

// ---- Config ---------------------------------------------------------------------------------------

Config::Config()
    : root_(std::make_shared<ConfigNode>()), source_(std::make_shared<const std::string>("<empty>")) {
  const_cast<ConfigNode*>(root_.get())->kind = Kind::Map;
  node_ = root_.get();
}

Config::Config(std::shared_ptr<const ConfigNode> root, std::shared_ptr<const std::string> source,
               const ConfigNode* node, std::string path)
    : root_(std::move(root)), source_(std::move(source)), node_(node), path_(std::move(path)) {}

Config Config::parse_yaml(const std::string& text, const std::string& source) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) fail("{}: YAML syntax error: {}", source, one_line(e.msg, 200));
    fail("{}: YAML syntax error at line {}, column {}: {}", source, e.mark.line + 1, e.mark.column + 1,
         one_line(e.msg, 200));
  }
  std::shared_ptr<const ConfigNode> root = from_yaml(doc, source);
  auto src = std::make_shared<const std::string>(source);
  const ConfigNode* node = root.get();
  return Config(std::move(root), std::move(src), node, "");
}

Config Config::parse_json(const std::string& text, const std::string& source) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> drop the id.
    if (auto p = msg.find("] "); msg.rfind("[json.exception", 0) == 0 && p != std::string::npos)
      msg = msg.substr(p + 2);
    fail("{}: JSON syntax error: {}", source, one_line(msg, 200));
  }
  std::shared_ptr<const ConfigNode> root = from_json(j);
  auto src = std::make_shared<const std::string>(source);
  const ConfigNode* node = root.get();
  return Config(std::move(root), std::move(src), node, "");
}

Config Config::load(const std::filesystem::path& path) {
  require_readable_file(path, "config file");
  auto bytes = read_file_bytes(path);
  std::string text(bytes.begin(), bytes.end());
  std::string ext = lower(path.extension().string());
  bool json;
  if (ext == ".json") {
    json = true;
  } else if (ext == ".yaml" || ext == ".yml") {
    json = false;
  } else {
    size_t p = text.find_first_not_of(" \t\r\n");
    json = p != std::string::npos && (text[p] == '{' || text[p] == '[');
  }
  return json ? parse_json(text, path.string()) : parse_yaml(text, path.string());
}

const ConfigNode* Config::find(const std::string& path, bool required, std::string* full) const {
  const ConfigNode* n = node_;
  std::string cur = path_;
  for (const auto& seg : split_path(path)) {
    const ConfigNode* next = nullptr;
    std::string next_path;
    if (n->kind == Kind::Map) {
      next = n->child(seg);
      next_path = join_path(cur, seg);
      if (!next && required) {
        std::string avail;
        for (const auto& kv : n->map) {
          if (avail.size() > 80) {
            avail += ", ...";
            break;
          }
          avail += (avail.empty() ? "" : ", ") + kv.first;
        }
        fail("{}: missing required key '{}' ({} has {})", *source_, next_path,
             cur.empty() ? "the top level" : "'" + cur + "'", avail.empty() ? "no keys" : "keys: " + avail);
      }
    } else if (n->kind == Kind::List) {
      size_t i;
      if (!parse_index(seg, &i)) {
        if (!required) return nullptr;
        fail("{}: expected a mapping to look up '{}', got a list {}", cur.empty() ? "<root>" : cur, seg,
             where(*source_, *n));
      }
      next_path = index_path(cur, i);
      if (i < n->list.size()) next = n->list[i].get();
      if (!next && required)
        fail("{}: missing required key '{}' (the list '{}' has {} items)", *source_, next_path, cur,
             n->list.size());
    } else {
      if (!required) return nullptr;
      fail("{}: expected a mapping to look up '{}', got {} {}", cur.empty() ? "<root>" : cur, seg, describe(*n),
           where(*source_, *n));
    }
    if (!next) return nullptr;
    n = next;
    cur = std::move(next_path);
  }
  if (full) *full = cur;
  return n;
}

bool Config::has(const std::string& path) const { return find(path, false, nullptr) != nullptr; }

template <typename T>
T Config::get(const std::string& path) const {
  std::string full;
  const ConfigNode* n = find(path, true, &full);
  if constexpr (std::is_same_v<T, Config>) {
    return Config(root_, source_, n, full);
  } else {
    return Conv<T>::from(*n, full, *source_);
  }
}

template bool Config::get<bool>(const std::string&) const;
template int Config::get<int>(const std::string&) const;
template int64_t Config::get<int64_t>(const std::string&) const;
template double Config::get<double>(const std::string&) const;
template float Config::get<float>(const std::string&) const;
template std::string Config::get<std::string>(const std::string&) const;
template std::vector<int> Config::get<std::vector<int>>(const std::string&) const;
template std::vector<int64_t> Config::get<std::vector<int64_t>>(const std::string&) const;
template std::vector<double> Config::get<std::vector<double>>(const std::string&) const;
template std::vector<float> Config::get<std::vector<float>>(const std::string&) const;
template std::vector<std::string> Config::get<std::vector<std::string>>(const std::string&) const;
template Config Config::get<Config>(const std::string&) const;

Config Config::at(const std::string& path) const { return get<Config>(path); }

Config Config::item(size_t i) const {
  if (node_->kind != Kind::List) type_error(path_, *source_, *node_, "a list");
  if (i >= node_->list.size())
    fail("{}: missing required key '{}' (the list '{}' has {} items)", *source_, index_path(path_, i), path_,
         node_->list.size());
  return Config(root_, source_, node_->list[i].get(), index_path(path_, i));
}

bool Config::is_map() const { return node_->kind == Kind::Map; }
bool Config::is_list() const { return node_->kind == Kind::List; }
bool Config::is_scalar() const { return node_->kind == Kind::Scalar; }
bool Config::is_null() const { return node_->kind == Kind::Null; }

size_t Config::size() const {
  if (node_->kind == Kind::Map) return node_->map.size();
  if (node_->kind == Kind::List) return node_->list.size();
  return 0;
}

std::vector<std::string> Config::keys() const {
  if (node_->kind != Kind::Map) type_error(path_, *source_, *node_, "a mapping");
  std::vector<std::string> out;
  for (const auto& kv : node_->map) out.push_back(kv.first);
  return out;
}

std::vector<std::pair<std::string, Config>> Config::items() const {
  if (node_->kind != Kind::Map) type_error(path_, *source_, *node_, "a mapping");
  std::vector<std::pair<std::string, Config>> out;
  for (const auto& kv : node_->map)
    out.emplace_back(kv.first, Config(root_, source_, kv.second.get(), join_path(path_, kv.first)));
  return out;
}

std::string Config::to_json(int indent) const { return to_json_value(*node_).dump(indent); }

const std::string& Config::source() const { return *source_; }

int Config::line() const { return node_->line; }

}  // namespace longvid
