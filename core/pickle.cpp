#include "core/pickle.h"

#include <cmath>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/error.h"

namespace longvid::pickle {

using K = Object::Kind;

const char* kind_name(K k) {
  switch (k) {
    case K::None: return "none";
    case K::Bool: return "bool";
    case K::Int: return "int";
    case K::Float: return "float";
    case K::Str: return "str";
    case K::Bytes: return "bytes";
    case K::List: return "list";
    case K::Tuple: return "tuple";
    case K::Dict: return "dict";
    case K::Set: return "set";
    case K::Global: return "global";
    case K::Stub: return "object";
    case K::Storage: return "storage";
    case K::Tensor: return "tensor";
  }
  return "?";
}

std::string repr(const Object* o, size_t max_len) {
  std::string r;
  switch (o->kind) {
    case K::None: r = "None"; break;
    case K::Bool: r = o->b ? "True" : "False"; break;
    case K::Int: r = o->s.empty() ? std::to_string(o->i) : fmt::format("<{}-byte int>", o->s.size()); break;
    case K::Float: r = fmt::format("{}", o->f); break;
    case K::Str: r = "'" + o->s + "'"; break;
    case K::Bytes: r = fmt::format("<{} bytes>", o->s.size()); break;
    case K::Global: r = o->s; break;
    case K::Stub: r = "<" + o->s + ">"; break;
    default: r = fmt::format("<{}>", kind_name(o->kind)); break;
  }
  for (auto& c : r)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  if (r.size() > max_len) r = r.substr(0, max_len - 3) + "...";
  return r;
}

namespace {

// Globals that can run code or reach the outside world: refused as soon as they are named.
bool is_dangerous(const std::string& module, const std::string& qual) {
  static const std::set<std::string> modules = {
      "os", "posix", "nt", "subprocess", "sys", "shutil", "importlib", "runpy", "pickle", "_pickle",
      "marshal", "code", "codeop", "pty", "socket", "ctypes", "multiprocessing", "webbrowser", "pdb",
      "bdb", "timeit", "commands", "types", "functools", "operator", "io", "_io", "tempfile", "glob",
      "signal", "threading", "_thread", "asyncio", "requests", "urllib", "http", "ftplib", "smtplib",
      "telnetlib", "pip", "setuptools", "distutils", "shelve", "dill", "cloudpickle", "joblib",
      "_posixsubprocess", "inspect", "site", "sysconfig", "zipimport", "pkgutil", "gc", "weakref", "linecache"};
  std::string top = module.substr(0, module.find('.'));
  if (modules.count(top)) return true;
  if (top == "builtins" || top == "__builtin__") {
    static const std::set<std::string> safe = {"set", "frozenset", "bytearray", "object", "slice", "complex",
                                               "bool", "int", "float", "str", "bytes", "list", "dict", "tuple"};
    return module != top || !safe.count(qual);
  }
  std::string full = module + "." + qual;
  static const char* bad_names[] = {"torch.load", "torch.hub", "torch._C", "torch.ops", "torch.jit",
                                    "torch.storage._load_from_bytes", "torch.serialization.load",
                                    "torch.package", "torch.utils.cpp_extension", "torch._dynamo",
                                    "torch.compile", "torch._inductor", "numpy.load", "numpy.testing",
                                    "numpy.f2py", "numpy.distutils", "numpy.ctypeslib", "numpy.lib.npyio",
                                    "_codecs.open", "codecs.open"};
  for (const char* p : bad_names) {
    size_t n = std::strlen(p);
    if (full.compare(0, n, p) == 0 && (full.size() == n || full[n] == '.')) return true;
  }
  static const std::set<std::string> bad_quals = {"eval", "exec", "execfile", "system", "popen", "spawn",
                                                  "__import__", "getattr", "setattr", "delattr", "compile",
                                                  "open", "run", "call", "check_call", "check_output"};
  if (bad_quals.count(qual)) return true;
  return false;
}

// Classes whose REDUCE/INST/OBJ we turn into an opaque stub (data constructors, never called).
bool is_stub_constructor(const std::string& full) {
  static const std::set<std::string> names = {
      "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.dtype",
      "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray",
      "torch.device", "torch.torch_version.TorchVersion", "pathlib.PosixPath", "pathlib.WindowsPath",
      "pathlib.Path", "pathlib.PurePosixPath", "pathlib.PureWindowsPath", "datetime.datetime", "datetime.date",
      "datetime.time", "datetime.timedelta", "datetime.timezone", "decimal.Decimal", "fractions.Fraction",
      "argparse.Namespace", "uuid.UUID", "builtins.complex", "builtins.slice", "builtins.object"};
  if (names.count(full)) return true;
  static const char* prefixes[] = {"omegaconf.", "pytorch_lightning.", "lightning.", "lightning_fabric.", "enum."};
  for (const char* p : prefixes)
    if (full.compare(0, std::strlen(p), p) == 0) return true;
  return false;
}

bool is_storage_type(const std::string& full) {
  if (full.compare(0, 6, "torch.") != 0) return false;
  std::string rest = full.substr(6);
  if (rest == "storage.UntypedStorage" || rest == "storage.TypedStorage" || rest == "UntypedStorage") return true;
  return rest.find('.') == std::string::npos && rest.size() > 7 && rest.compare(rest.size() - 7, 7, "Storage") == 0;
}

class Machine {
 public:
  Machine(const uint8_t* data, size_t size, const std::string& name, Result& r)
      : p_(data), begin_(data), end_(data + size), name_(name), r_(r) {}

  void run();

 private:
  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;
  const std::string& name_;
  Result& r_;
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
  std::unordered_map<std::string, int64_t> storage_by_key_;
  size_t op_pos_ = 0;
  uint64_t copied_ = 0;  // container items copied by constructors (bounds memory on hostile input)

  void charge(size_t n) {
    copied_ += n;
    if (copied_ > (uint64_t{1} << 26)) bad("pickle builds too many container items");
  }

  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> f, Args&&... args) {
    fail("{}: {} (at byte {})", name_, fmt::format(f, std::forward<Args>(args)...), op_pos_);
  }

  Object* make(K k) {
    if (r_.arena.size() > (size_t{1} << 26)) bad("too many objects");
    r_.arena.emplace_back();
    r_.arena.back().kind = k;
    return &r_.arena.back();
  }
  Object* make_int(int64_t v) {
    auto* o = make(K::Int);
    o->i = v;
    return o;
  }
  Object* make_str(K k, std::string s) {
    auto* o = make(k);
    o->s = std::move(s);
    return o;
  }

  const uint8_t* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) bad("truncated pickle");
    const uint8_t* q = p_;
    p_ += n;
    return q;
  }
  uint64_t le(size_t n) {
    const uint8_t* q = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | q[i];
    return v;
  }
  std::string line() {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) bad("truncated pickle (unterminated text argument)");
    std::string s(reinterpret_cast<const char*>(p_), nl - p_);
    p_ = nl + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }
  std::string bytes(uint64_t n) {
    if (n > static_cast<uint64_t>(end_ - p_)) bad("truncated pickle (a {}-byte string runs past the end)", n);
    return std::string(reinterpret_cast<const char*>(take(n)), n);
  }

  void push(Object* o) {
    if (stack_.size() > (size_t{1} << 24)) bad("pickle stack too deep");
    stack_.push_back(o);
  }
  Object* pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("pickle stack underflow");
    Object* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Object* top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Object*> pop_mark() {
    if (marks_.empty()) bad("pickle MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Object*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  Object* memo_get(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) bad("memo entry {} is missing", idx);
    return it->second;
  }
  void memo_put(uint64_t idx) {
    if (memo_.size() > (size_t{1} << 24)) bad("memo too large");
    memo_[idx] = top();
  }

  Object* tuple(std::vector<Object*> items) {
    charge(items.size());
    auto* t = make(K::Tuple);
    t->items = std::move(items);
    return t;
  }

  Object* global(const std::string& module_in, const std::string& qual) {
    // Protocol 0-2 pickles use Python 2 module names (as CPython's _compat_pickle maps them).
    std::string module = module_in == "__builtin__" ? "builtins" : module_in == "copy_reg" ? "copyreg" : module_in;
    std::string full = module + "." + qual;
    for (char c : full)
      if (static_cast<unsigned char>(c) < 0x20) bad("malformed global name");
    if (is_dangerous(module, qual))
      fail("{}: refusing to load: the pickle references {}, which can execute code (only state-dict objects are "
           "allowed; nothing was executed)",
           name_, full);
    return make_str(K::Global, full);
  }

  int64_t int_arg(Object* o, const char* what) {
    if (o->kind == K::Int) return o->i;
    if (o->kind == K::Bool) return o->b;
    bad("{} must be an int, not {}", what, kind_name(o->kind));
  }
  std::vector<int64_t> int_tuple(Object* o, const char* what) {
    if (o->kind != K::Tuple && o->kind != K::List) bad("{} must be a tuple of ints, not {}", what, kind_name(o->kind));
    std::vector<int64_t> v;
    for (auto* x : o->items) v.push_back(int_arg(x, what));
    return v;
  }

  Object* rebuild_tensor(Object* storage, Object* offset, Object* size, Object* stride) {
    if (storage->kind != K::Storage) bad("tensor storage must come from a persistent id, not {}", kind_name(storage->kind));
    TensorRef t;
    t.storage = storage->i;
    t.offset = int_arg(offset, "tensor storage offset");
    t.size = int_tuple(size, "tensor size");
    t.stride = int_tuple(stride, "tensor stride");
    if (t.size.size() != t.stride.size()) bad("tensor size and stride have different lengths");
    if (t.size.size() > 64) bad("tensor has {} dimensions", t.size.size());
    r_.tensors.push_back(std::move(t));
    auto* o = make(K::Tensor);
    o->i = static_cast<int64_t>(r_.tensors.size() - 1);
    return o;
  }

  Object* stub(const std::string& cls, std::vector<Object*> args) {
    charge(args.size());
    auto* o = make_str(K::Stub, cls);
    o->items = std::move(args);
    return o;
  }

  // The one place where "calls" happen: only allow-listed constructors, evaluated by us.
  Object* call(Object* fn, Object* args, const char* how) {
    if (fn->kind != K::Global) bad("{} on a {} (only allow-listed constructors can be called)", how, kind_name(fn->kind));
    if (args->kind != K::Tuple) bad("{} arguments must be a tuple, not {}", how, kind_name(args->kind));
    const std::string& f = fn->s;
    auto& a = args->items;
    auto nargs = [&](size_t lo, size_t hi) {
      if (a.size() < lo || a.size() > hi) bad("{}() takes {} to {} arguments, got {}", f, lo, hi, a.size());
    };
    if (f == "collections.OrderedDict" || f == "builtins.dict" || f == "collections.defaultdict") {
      auto* d = make(K::Dict);
      if (f == "collections.defaultdict") return d;  // default factory is never called
      nargs(0, 1);
      if (a.size() == 1) {
        if (a[0]->kind != K::List && a[0]->kind != K::Tuple) bad("{}() argument must be a list of pairs", f);
        charge(a[0]->items.size());
        for (auto* kv : a[0]->items) {
          if ((kv->kind != K::Tuple && kv->kind != K::List) || kv->items.size() != 2) bad("{}() item is not a pair", f);
          d->dict_items.emplace_back(kv->items[0], kv->items[1]);
        }
      }
      return d;
    }
    if (f == "torch._utils._rebuild_tensor_v2") {
      nargs(6, 7);
      return rebuild_tensor(a[0], a[1], a[2], a[3]);
    }
    if (f == "torch._utils._rebuild_tensor") {
      nargs(4, 4);
      return rebuild_tensor(a[0], a[1], a[2], a[3]);
    }
    if (f == "torch._utils._rebuild_parameter" || f == "torch._utils._rebuild_parameter_with_state") {
      nargs(3, 4);
      if (a[0]->kind != K::Tensor) bad("{}() needs a tensor, not {}", f, kind_name(a[0]->kind));
      r_.tensors[static_cast<size_t>(a[0]->i)].parameter = true;
      return a[0];
    }
    if (f == "torch._tensor._rebuild_from_type_v2") {
      nargs(4, 4);
      if (a[1]->kind != K::Global || (a[1]->s != "torch.Tensor" && a[1]->s != "torch.nn.parameter.Parameter"))
        bad("{}() with tensor type {} is not supported", f, repr(a[1]));
      return call(a[0], a[2], how);
    }
    if (f == "torch.Size") {
      nargs(1, 1);
      if (a[0]->kind != K::Tuple && a[0]->kind != K::List) bad("torch.Size() needs a tuple");
      charge(a[0]->items.size());
      return tuple(a[0]->items);
    }
    if (f == "builtins.set" || f == "builtins.frozenset") {
      nargs(0, 1);
      auto* s = make(K::Set);
      if (a.size() == 1) {
        if (a[0]->kind != K::List && a[0]->kind != K::Tuple && a[0]->kind != K::Set) bad("{}() needs a list", f);
        charge(a[0]->items.size());
        s->items = a[0]->items;
      }
      return s;
    }
    if (f == "builtins.bytearray" || f == "builtins.bytes") {
      nargs(0, 1);
      if (a.empty()) return make_str(K::Bytes, "");
      if (a[0]->kind != K::Bytes && a[0]->kind != K::Str) bad("{}() argument must be bytes", f);
      return make_str(K::Bytes, a[0]->s);
    }
    if (f == "_codecs.encode") {  // protocol 2 bytes: _codecs.encode(u'...', 'latin1')
      nargs(1, 2);
      if (a[0]->kind != K::Str) bad("_codecs.encode() needs a str");
      std::string out;
      const std::string& s = a[0]->s;  // UTF-8 -> latin1 (code points < 256)
      for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) out += static_cast<char>(c);
        else if ((c & 0xe0) == 0xc0 && i + 1 < s.size() && c <= 0xc3) {
          out += static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3f));
          ++i;
        } else bad("_codecs.encode(): not a latin1 string");
      }
      return make_str(K::Bytes, out);
    }
    if (f == "copyreg._reconstructor" || f == "copyreg.__newobj__" || f == "copy_reg._reconstructor") {
      if (a.empty() || a[0]->kind != K::Global) bad("{}() needs a class", f);
      return stub(a[0]->s, std::vector<Object*>(a.begin() + 1, a.end()));
    }
    if (is_stub_constructor(f)) return stub(f, a);
    fail("{}: refusing to load: the pickle calls {}, which is not an allowed state-dict constructor (nothing was "
         "executed)",
         name_, f);
  }

  Object* new_object(Object* cls, Object* args) {
    if (cls->kind != K::Global) bad("NEWOBJ on a {}", kind_name(cls->kind));
    if (args->kind != K::Tuple) bad("NEWOBJ arguments must be a tuple");
    const std::string& c = cls->s;
    if (c == "collections.OrderedDict" || c == "builtins.dict" || c == "collections.defaultdict") return make(K::Dict);
    if (c == "builtins.set" || c == "builtins.frozenset") return make(K::Set);
    if (c == "builtins.list") return make(K::List);
    if (c == "builtins.object") return stub(c, {});
    // cls.__new__(cls, *args) allocates an instance without running user code: an opaque stub.
    return stub(c, args->items);
  }

  void build(Object* obj, Object* state) {
    if (obj->kind == K::Stub) {
      obj->state = state;
      return;
    }
    // torch state dicts are OrderedDicts with a `_metadata` attribute: accept and drop it.
    if (obj->kind == K::Dict && (state->kind == K::Dict || state->kind == K::None || state->kind == K::Tuple)) return;
    if (obj->kind == K::Tensor && (state->kind == K::None || (state->kind == K::Dict && state->dict_items.empty()) ||
                                   (state->kind == K::Tuple && state->items.empty())))
      return;
    bad("refusing BUILD (setstate) on a {}: only opaque objects accept state", kind_name(obj->kind));
  }

  void set_items(Object* target, const std::vector<Object*>& kv) {
    if (kv.size() % 2) bad("SETITEMS with an odd number of items");
    if (target->kind != K::Dict && target->kind != K::Stub) bad("SETITEM on a {}", kind_name(target->kind));
    charge(kv.size());
    for (size_t i = 0; i < kv.size(); i += 2) target->dict_items.emplace_back(kv[i], kv[i + 1]);
  }
  void append(Object* target, const std::vector<Object*>& items) {
    if (target->kind != K::List && target->kind != K::Stub && target->kind != K::Set)
      bad("APPEND on a {}", kind_name(target->kind));
    charge(items.size());
    target->items.insert(target->items.end(), items.begin(), items.end());
  }

  Object* persistent(Object* pid) {
    if (pid->kind != K::Tuple || pid->items.size() < 5 || pid->items[0]->kind != K::Str || pid->items[0]->s != "storage")
      bad("unsupported persistent id {} (expected ('storage', type, key, location, numel))", repr(pid));
    auto& it = pid->items;
    if (it[1]->kind != K::Global || !is_storage_type(it[1]->s)) bad("persistent id names {} instead of a storage type", repr(it[1]));
    std::string key;
    if (it[2]->kind == K::Str) key = it[2]->s;
    else if (it[2]->kind == K::Int) key = std::to_string(it[2]->i);
    else bad("storage key must be a str");
    std::string loc = it[3]->kind == K::Str ? it[3]->s : "?";
    int64_t numel = int_arg(it[4], "storage size");
    if (numel < 0) bad("storage '{}' has negative size {}", key, numel);
    int64_t view_offset = 0;
    std::string view_key;
    if (it.size() >= 6 && it[5]->kind == K::Tuple && it[5]->items.size() == 3) {  // legacy storage view
      auto& v = it[5]->items;
      view_key = v[0]->kind == K::Str ? v[0]->s : std::to_string(int_arg(v[0], "view key"));
      view_offset = int_arg(v[1], "view offset");
      int64_t view_size = int_arg(v[2], "view size");
      if (view_offset < 0 || view_size < 0 || view_offset > numel || view_size > numel - view_offset)
        bad("storage view '{}' [{}, +{}) lies outside storage '{}' ({} elements)", view_key, view_offset, view_size,
            key, numel);
    }
    std::string ident = view_key.empty() ? key : key + "/" + view_key;
    auto found = storage_by_key_.find(ident);
    auto* o = make(K::Storage);
    if (found != storage_by_key_.end()) {
      o->i = found->second;
      return o;
    }
    StorageRef s;
    s.key = key;
    s.type = it[1]->s;
    s.location = loc;
    s.numel = numel;
    s.view_offset = view_offset;
    r_.storages.push_back(std::move(s));
    o->i = static_cast<int64_t>(r_.storages.size() - 1);
    storage_by_key_[ident] = o->i;
    return o;
  }

  int64_t parse_text_int(const std::string& s) {
    std::string t = s;
    if (!t.empty() && t.back() == 'L') t.pop_back();
    if (t.empty()) bad("empty integer literal");
    size_t pos = 0;
    long long v = 0;
    try {
      v = std::stoll(t, &pos, 10);
    } catch (...) {
      bad("bad or too large integer literal");
    }
    if (pos != t.size()) bad("bad integer literal");
    return v;
  }
};

void Machine::run() {
  while (true) {
    op_pos_ = static_cast<size_t>(p_ - begin_);
    if (p_ >= end_) bad("truncated pickle (no STOP opcode)");
    uint8_t op = *p_++;
    switch (op) {
      case 0x80: {  // PROTO
        uint64_t v = le(1);
        if (v > 5) bad("unsupported pickle protocol {}", v);
        break;
      }
      case 0x95: le(8); break;  // FRAME: we read the stream directly
      case '.': {               // STOP
        if (stack_.empty()) bad("empty stack at STOP");
        r_.root = stack_.back();
        r_.end = static_cast<size_t>(p_ - begin_);
        return;
      }
      case '(': marks_.push_back(stack_.size()); break;
      case '0': pop(); break;
      case '1': pop_mark(); break;
      case '2': push(top()); break;
      case 'N': push(make(K::None)); break;
      case 0x88:
      case 0x89: {
        auto* o = make(K::Bool);
        o->b = op == 0x88;
        push(o);
        break;
      }
      case 'I': {
        std::string s = line();
        if (s == "01" || s == "00") {
          auto* o = make(K::Bool);
          o->b = s == "01";
          push(o);
        } else push(make_int(parse_text_int(s)));
        break;
      }
      case 'L': push(make_int(parse_text_int(line()))); break;
      case 'J': push(make_int(static_cast<int32_t>(le(4)))); break;
      case 'K': push(make_int(static_cast<int64_t>(le(1)))); break;
      case 'M': push(make_int(static_cast<int64_t>(le(2)))); break;
      case 0x8a:
      case 0x8b: {  // LONG1, LONG4
        uint64_t n = le(op == 0x8a ? 1 : 4);
        if (n > 8) {  // e.g. the legacy torch magic number: kept as raw bytes, value unused
          if (n > static_cast<uint64_t>(end_ - p_)) bad("truncated pickle (a {}-byte integer runs past the end)", n);
          auto* o = make_str(K::Int, bytes(n));
          o->i = 0;
          push(o);
          break;
        }
        const uint8_t* q = take(n);
        uint64_t v = 0;
        for (size_t i = n; i-- > 0;) v = (v << 8) | q[i];
        if (n > 0 && n < 8 && (q[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);
        push(make_int(static_cast<int64_t>(v)));
        break;
      }
      case 'F': {
        std::string s = line();
        char* e = nullptr;
        double v = std::strtod(s.c_str(), &e);
        if (s.empty() || *e) bad("bad float literal");
        auto* o = make(K::Float);
        o->f = v;
        push(o);
        break;
      }
      case 'G': {
        uint64_t bits = 0;
        const uint8_t* q = take(8);
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | q[i];  // big-endian
        auto* o = make(K::Float);
        std::memcpy(&o->f, &bits, 8);
        push(o);
        break;
      }
      case 'S': {  // STRING: a quoted repr; escapes are kept verbatim
        std::string s = line();
        if (s.size() >= 2 && (s[0] == '\'' || s[0] == '"') && s.back() == s[0]) s = s.substr(1, s.size() - 2);
        else bad("bad STRING literal");
        push(make_str(K::Str, s));
        break;
      }
      case 'V': push(make_str(K::Str, line())); break;
      case 'T': push(make_str(K::Str, bytes(le(4)))); break;
      case 'U': push(make_str(K::Str, bytes(le(1)))); break;
      case 'X': push(make_str(K::Str, bytes(le(4)))); break;
      case 0x8c: push(make_str(K::Str, bytes(le(1)))); break;
      case 0x8d: push(make_str(K::Str, bytes(le(8)))); break;
      case 'B': push(make_str(K::Bytes, bytes(le(4)))); break;
      case 'C': push(make_str(K::Bytes, bytes(le(1)))); break;
      case 0x8e:
      case 0x96: push(make_str(K::Bytes, bytes(le(8)))); break;
      case ']': push(make(K::List)); break;
      case ')': push(make(K::Tuple)); break;
      case '}': push(make(K::Dict)); break;
      case 0x8f: push(make(K::Set)); break;
      case 'l': {
        auto items = pop_mark();
        auto* o = make(K::List);
        o->items = std::move(items);
        push(o);
        break;
      }
      case 't': push(tuple(pop_mark())); break;
      case 0x85: {
        auto* a = pop();
        push(tuple({a}));
        break;
      }
      case 0x86: {
        auto* b = pop();
        auto* a = pop();
        push(tuple({a, b}));
        break;
      }
      case 0x87: {
        auto* c = pop();
        auto* b = pop();
        auto* a = pop();
        push(tuple({a, b, c}));
        break;
      }
      case 'd': {
        auto items = pop_mark();
        auto* o = make(K::Dict);
        set_items(o, items);
        push(o);
        break;
      }
      case 0x91: {
        auto items = pop_mark();
        auto* o = make(K::Set);
        o->items = std::move(items);
        push(o);
        break;
      }
      case 'a': {
        auto* v = pop();
        append(top(), {v});
        break;
      }
      case 'e': {
        auto items = pop_mark();
        append(top(), items);
        break;
      }
      case 0x90: {
        auto items = pop_mark();
        Object* t = top();
        if (t->kind != K::Set) bad("ADDITEMS on a {}", kind_name(t->kind));
        append(t, items);
        break;
      }
      case 's': {
        auto* v = pop();
        auto* k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {
        auto items = pop_mark();
        set_items(top(), items);
        break;
      }
      case 'g': push(memo_get(static_cast<uint64_t>(parse_text_int(line())))); break;
      case 'h': push(memo_get(le(1))); break;
      case 'j': push(memo_get(le(4))); break;
      case 'p': memo_put(static_cast<uint64_t>(parse_text_int(line()))); break;
      case 'q': memo_put(le(1)); break;
      case 'r': memo_put(le(4)); break;
      case 0x94: memo_put(memo_.size()); break;
      case 'c': {
        std::string module = line();
        std::string qual = line();
        push(global(module, qual));
        break;
      }
      case 0x93: {
        auto* qual = pop();
        auto* module = pop();
        if (module->kind != K::Str || qual->kind != K::Str) bad("STACK_GLOBAL needs two strings");
        push(global(module->s, qual->s));
        break;
      }
      case 'R': {
        auto* args = pop();
        auto* fn = pop();
        push(call(fn, args, "REDUCE"));
        break;
      }
      case 0x81: {
        auto* args = pop();
        auto* cls = pop();
        push(new_object(cls, args));
        break;
      }
      case 0x92: {
        auto* kwargs = pop();
        auto* args = pop();
        auto* cls = pop();
        (void)kwargs;
        push(new_object(cls, args));
        break;
      }
      case 'i': {  // INST: class(*args)
        std::string module = line();
        std::string qual = line();
        auto* cls = global(module, qual);
        push(call(cls, tuple(pop_mark()), "INST"));
        break;
      }
      case 'o': {  // OBJ: class(*args)
        auto items = pop_mark();
        if (items.empty()) bad("OBJ without a class");
        Object* cls = items[0];
        items.erase(items.begin());
        push(call(cls, tuple(std::move(items)), "OBJ"));
        break;
      }
      case 'b': {
        auto* state = pop();
        build(top(), state);
        break;
      }
      case 'Q': push(persistent(pop())); break;
      case 'P': bad("text persistent ids are not supported");
      case 0x82:
      case 0x83:
      case 0x84: bad("pickle extension registry opcodes are not supported");
      case 0x97:
      case 0x98: bad("out-of-band pickle buffers are not supported");
      default: bad("unknown pickle opcode 0x{:02x}", op);
    }
  }
}

}  // namespace

Result unpickle(const uint8_t* data, size_t size, const std::string& name) {
  Result r;
  Machine m(data, size, name, r);
  m.run();
  return r;
}

}  // namespace longvid::pickle
