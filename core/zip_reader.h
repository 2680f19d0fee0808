// A read-only zip central-directory reader for torch.save archives (records STORED, zip64 aware).
// Torch-free so that fuzz targets can build it alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace longvid::zip {

struct Entry {
  std::string name;
  uint64_t data_offset = 0;  // start of the record's bytes in the archive
  uint64_t size = 0;         // stored (compressed) size
  uint64_t uncompressed_size = 0;
  uint16_t method = 0;       // 0 = STORED
};

// Reads the central directory of the archive in data[0, size). Every entry's data range is
// validated against the buffer. Throws longvid::Error naming `name` when the archive is damaged.
std::vector<Entry> read_directory(const uint8_t* data, size_t size, const std::string& name);

}  // namespace longvid::zip
