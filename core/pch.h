// Precompiled header shared by every longvid target (see CMakeLists.txt: longvid_pch).
// LibTorch is by far the heaviest include; parsing it once saves ~40 s per translation unit.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>
