// Bad and malicious checkpoints: one clear error line, a non-zero exit, no crash, no output file,
// and nothing executed.
#include <doctest/doctest.h>

#include <fstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/fs.h"
#include "tests/helpers.h"

using namespace longvid;
namespace fs = std::filesystem;

namespace {

fs::path ckpt_dir() { return test::data_dir() / "ckpt"; }

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file with the given JSON header and `data_len` zero bytes of data.
std::string safetensors(const std::string& header, size_t data_len, int64_t declared_len = -1) {
  uint64_t n = declared_len >= 0 ? static_cast<uint64_t>(declared_len) : header.size();
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + header + std::string(data_len, '\0');
}

// Runs `longvid inspect FILE` in a scratch directory: it must fail with exactly one line that
// contains `file` and `what`, print nothing on stdout, and leave no file behind.
void expect_cli_error(const fs::path& file, const std::string& what, const test::ScratchDir* dir = nullptr) {
  CAPTURE(file);
  auto before = dir ? dir->entries() : std::vector<std::string>{};
  auto r = test::run_cli({"inspect", file.string(), "--json"});
  CAPTURE(r.err);
  CHECK(r.exit_code == 1);
  CHECK(test::count_lines(r.err) == 1);
  CHECK(r.err.rfind("longvid: error: ", 0) == 0);
  CHECK(r.err.find(file.string()) != std::string::npos);
  CHECK(r.err.find(what) != std::string::npos);
  CHECK(r.out.empty());
  if (dir) CHECK(dir->entries() == before);
  // The library throws the same longvid::Error.
  CHECK_THROWS_WITH_AS(load_checkpoint(file), doctest::Contains(what.c_str()), Error);
}

}  // namespace

TEST_CASE("checkpoint errors: missing, empty, not a checkpoint") {
  test::ScratchDir dir("ckerr");
  expect_cli_error(dir / "nope.ckpt", "no such checkpoint file");
  write_bytes(dir / "empty.safetensors", "");
  expect_cli_error(dir / "empty.safetensors", "empty file", &dir);
  write_bytes(dir / "text.ckpt", "hello, this is not a checkpoint at all");
  expect_cli_error(dir / "text.ckpt", "not a checkpoint", &dir);
  write_bytes(dir / "plain.pkl", std::string("\x80\x02}q\x00.", 6));
  expect_cli_error(dir / "plain.pkl", "a plain pickle, not a torch.save checkpoint", &dir);
}

TEST_CASE("checkpoint errors: damaged safetensors") {
  test::ScratchDir dir("sterr");
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";
  // Sanity: the good file loads.
  write_bytes(dir / "good.safetensors", safetensors(good, 16));
  CHECK(load_checkpoint(dir / "good.safetensors").size() == 2);

  write_bytes(dir / "short.safetensors", safetensors(good, 16).substr(0, 5));
  expect_cli_error(dir / "short.safetensors", "not a checkpoint (5 bytes", &dir);
  write_bytes(dir / "truncated.safetensors", safetensors(good, 16).substr(0, 8 + good.size() + 10));
  expect_cli_error(dir / "truncated.safetensors", "tensor 'b': data_offsets [8, 16] are out of range (the data section has 10 bytes)", &dir);
  write_bytes(dir / "pastend.safetensors", safetensors(good, 16, 1 << 20));
  expect_cli_error(dir / "pastend.safetensors", "header length 1048576 runs past the end of the file", &dir);
  write_bytes(dir / "overlap.safetensors",
              safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12));
  expect_cli_error(dir / "overlap.safetensors", "tensor 'b': data_offsets [4, 12] overlap those of 'a' [0, 8]", &dir);
  write_bytes(dir / "range.safetensors",
              safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 12));
  expect_cli_error(dir / "range.safetensors", "tensor 'b': data_offsets [8, 16] are out of range", &dir);
  write_bytes(dir / "gap.safetensors",
              safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12));
  expect_cli_error(dir / "gap.safetensors", "tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes after 'a'", &dir);
  write_bytes(dir / "size.safetensors", safetensors(R"({"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8));
  expect_cli_error(dir / "size.safetensors", "tensor 'a': BF16 [3] needs 6 bytes but data_offsets [0, 8] hold 8", &dir);
  write_bytes(dir / "json.safetensors", safetensors(R"({"a":{"dtype":"F32",)", 0));
  expect_cli_error(dir / "json.safetensors", "safetensors header is not valid JSON", &dir);
  write_bytes(dir / "dup.safetensors",
              safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8));
  expect_cli_error(dir / "dup.safetensors", "safetensors header names tensor 'a' twice", &dir);
  write_bytes(dir / "dtype.safetensors", safetensors(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}})", 1));
  expect_cli_error(dir / "dtype.safetensors", "tensor 'a': unsupported dtype 'Q7'", &dir);
  write_bytes(dir / "trailing.safetensors", safetensors(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 5));
  expect_cli_error(dir / "trailing.safetensors", "data section has 5 bytes but the tensors cover 1", &dir);
  write_bytes(dir / "bool.safetensors", safetensors(R"({"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}})", 0) + "\x07");
  expect_cli_error(dir / "bool.safetensors", "tensor 'a': bool data holds the byte 7", &dir);
}

TEST_CASE("checkpoint errors: damaged torch zip archives") {
  expect_cli_error(ckpt_dir() / "bad_missing_record.ckpt", "storage record 'lvdm_tiny/data/1' is missing");
  expect_cli_error(ckpt_dir() / "bad_short_record.ckpt", "storage record 'lvdm_tiny/data/1' has");
  expect_cli_error(ckpt_dir() / "bad_compressed.ckpt", "is compressed (zip method 8)");
  expect_cli_error(ckpt_dir() / "bad_truncated.ckpt", "damaged zip archive");
}

TEST_CASE("checkpoint errors: malicious pickles are refused and nothing runs") {
  const char* markers[] = {"/tmp/longvid_pwned_os_system", "/tmp/longvid_pwned_eval", "/tmp/longvid_pwned_inst"};
  for (const char* m : markers) fs::remove(m);
  expect_cli_error(ckpt_dir() / "evil_os_system.pt", "refusing to load: the pickle references os.system");
  expect_cli_error(ckpt_dir() / "evil_eval.pt", "refusing to load: the pickle references builtins.eval");
  expect_cli_error(ckpt_dir() / "evil_inst.pt", "refusing to load: the pickle references subprocess.Popen");
  expect_cli_error(ckpt_dir() / "evil_reduce.pt",
                   "refusing to load: the pickle calls mypackage.helpers.make_thing, which is not an allowed");
  for (const char* m : markers) CHECK_MESSAGE(!fs::exists(m), m);
}

TEST_CASE("checkpoint errors: corrupted and truncated files fail with longvid::Error only") {
  // Deterministic mutations of every fixture format, parsed from memory: each must either load
  // or throw longvid::Error (never another exception, never a crash).
  int loaded = 0, rejected = 0;
  for (const char* name : {"lvdm_tiny.ckpt", "lvdm_tiny_zip64.ckpt", "views_legacy.pt", "mixed.safetensors"}) {
    CAPTURE(name);
    auto orig = read_file_bytes(ckpt_dir() / name);
    auto parse = [&](const std::vector<uint8_t>& b) {
      std::string fmt = detect_checkpoint_format(b.data(), b.size());
      try {
        StateDict sd;
        if (fmt == "safetensors") sd = parse_safetensors(b.data(), b.size(), "mut");
        else if (fmt == "torch-zip") sd = parse_torch_zip(b.data(), b.size(), "mut");
        else if (fmt == "torch-legacy") sd = parse_torch_legacy(b.data(), b.size(), "mut");
        else return;
        for (const auto& k : sd.keys()) (void)sd.get(k).to(at::kDouble).sum().item<double>();
        ++loaded;
      } catch (const Error& e) {
        ++rejected;
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
      } catch (const std::exception& e) {
        FAIL_CHECK("non-longvid exception: " << e.what());
      }
    };
    for (size_t cut = 0; cut < orig.size(); cut += 37) parse(std::vector<uint8_t>(orig.begin(), orig.begin() + cut));
    for (size_t pos = 0; pos < orig.size(); pos += 7) {
      for (uint8_t x : {uint8_t{0xff}, uint8_t{0x01}, uint8_t{0x80}}) {
        auto m = orig;
        m[pos] ^= x;
        parse(m);
      }
    }
  }
  MESSAGE("mutations: " << loaded << " loaded, " << rejected << " rejected");
  CHECK(rejected > 100);
}
