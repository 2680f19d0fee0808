#include "core/zip_reader.h"

#include "core/error.h"

namespace longvid::zip {

namespace {

uint64_t rd(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

constexpr uint32_t kLocal = 0x04034b50, kCentral = 0x02014b50, kEnd = 0x06054b50, kEnd64 = 0x06064b50,
                   kLocator64 = 0x07064b50;

std::string printable(const std::string& s) {
  std::string r = s.size() > 120 ? s.substr(0, 117) + "..." : s;
  for (auto& c : r)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return r;
}

}  // namespace

std::vector<Entry> read_directory(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 22) fail("{}: truncated zip archive ({} bytes)", name, size);
  // End of central directory: the last 22 bytes plus a comment of up to 65535 bytes.
  size_t eocd = SIZE_MAX;
  size_t lowest = size >= 22 + 65535 ? size - 22 - 65535 : 0;
  for (size_t i = size - 22 + 1; i-- > lowest;) {
    if (rd(data + i, 4) == kEnd && i + 22 + rd(data + i + 20, 2) == size) {
      eocd = i;
      break;
    }
  }
  if (eocd == SIZE_MAX) {
    for (size_t i = size - 22 + 1; i-- > lowest;)
      if (rd(data + i, 4) == kEnd) {
        eocd = i;
        break;
      }
  }
  if (eocd == SIZE_MAX) fail("{}: damaged zip archive: no end-of-central-directory record (truncated file?)", name);
  uint64_t count = rd(data + eocd + 10, 2);
  uint64_t cd_size = rd(data + eocd + 12, 4);
  uint64_t cd_offset = rd(data + eocd + 16, 4);
  if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
    if (eocd < 20 || rd(data + eocd - 20, 4) != kLocator64)
      fail("{}: damaged zip64 archive: the zip64 end-of-directory locator is missing", name);
    uint64_t e64 = rd(data + eocd - 20 + 8, 8);
    if (e64 > size || size - e64 < 56 || rd(data + e64, 4) != kEnd64)
      fail("{}: damaged zip64 archive: bad zip64 end-of-directory record", name);
    count = rd(data + e64 + 32, 8);
    cd_size = rd(data + e64 + 40, 8);
    cd_offset = rd(data + e64 + 48, 8);
  }
  if (cd_offset > size || cd_size > size - cd_offset)
    fail("{}: damaged zip archive: the central directory [{}, +{}) lies outside the file ({} bytes)", name, cd_offset,
         cd_size, size);
  if (count > cd_size / 46) fail("{}: damaged zip archive: {} entries cannot fit a {}-byte directory", name, count, cd_size);

  std::vector<Entry> entries;
  entries.reserve(count);
  const uint8_t* p = data + cd_offset;
  const uint8_t* end = p + cd_size;
  for (uint64_t k = 0; k < count; ++k) {
    if (end - p < 46 || rd(p, 4) != kCentral) fail("{}: damaged zip archive: bad central directory entry {}", name, k);
    Entry e;
    e.method = static_cast<uint16_t>(rd(p + 10, 2));
    uint64_t csize = rd(p + 20, 4), usize = rd(p + 24, 4);
    size_t nlen = rd(p + 28, 2), xlen = rd(p + 30, 2), clen = rd(p + 32, 2);
    uint64_t local = rd(p + 42, 4);
    if (static_cast<size_t>(end - p) < 46 + nlen + xlen + clen)
      fail("{}: damaged zip archive: central directory entry {} runs past the directory", name, k);
    e.name.assign(reinterpret_cast<const char*>(p + 46), nlen);
    // zip64 extended information: the 64-bit values present are those whose 32-bit field is full.
    const uint8_t* x = p + 46 + nlen;
    const uint8_t* xend = x + xlen;
    while (xend - x >= 4) {
      uint64_t id = rd(x, 2), len = rd(x + 2, 2);
      if (static_cast<uint64_t>(xend - x - 4) < len) break;
      if (id == 0x0001) {
        const uint8_t* f = x + 4;
        uint64_t left = len;
        auto take = [&](uint64_t& field) {
          if (field != 0xffffffffu) return;
          if (left < 8) fail("{}: damaged zip64 archive: short zip64 field in entry '{}'", name, printable(e.name));
          field = rd(f, 8);
          f += 8;
          left -= 8;
        };
        take(usize);
        take(csize);
        take(local);
      }
      x += 4 + len;
    }
    e.size = csize;
    e.uncompressed_size = usize;
    if (local > size || size - local < 30 || rd(data + local, 4) != kLocal)
      fail("{}: damaged zip archive: record '{}' has no local header at offset {}", name, printable(e.name), local);
    uint64_t start = local + 30 + rd(data + local + 26, 2) + rd(data + local + 28, 2);
    if (start > size || csize > size - start)
      fail("{}: damaged zip archive: record '{}' ({} bytes at offset {}) runs past the end of the file ({} bytes)",
           name, printable(e.name), csize, start, size);
    e.data_offset = start;
    entries.push_back(std::move(e));
    p += 46 + nlen + xlen + clen;
  }
  return entries;
}

}  // namespace longvid::zip
