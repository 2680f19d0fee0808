// Bundled assets (the repository's assets/ folder: the default model and its card).
// Searched, in order: $LONGVID_ASSETS, <dir of the executable>/../assets,
// <dir of the executable>/../share/longvid/assets, the source tree's assets/ (compiled in).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace longvid {

std::vector<std::filesystem::path> asset_search_dirs();

// The first existing `relative` under the search dirs; longvid::Error listing where it looked
// otherwise (with `hint` appended).
std::filesystem::path find_asset(const std::string& relative, const std::string& hint = "");

// The bundled default model (one safetensors file with config metadata: autoencoder + joint
// prediction / interpolation U-Net).
inline constexpr const char* kDefaultModelAsset = "default/model.safetensors";

// The bundled text-conditioned model (the default model's data with captions; a CLIP-style text
// encoder trained with it; its tokenizer files in default/text/tokenizer/): the default when a prompt
// is given.
inline constexpr const char* kDefaultTextModelAsset = "default/text/model.safetensors";

// The bundled RIFE frame interpolator (an IFNet trained by `longvid train-rife` on the same synthetic
// data): the default of `interpolate --model` and `generate --rife-model`.
inline constexpr const char* kDefaultRifeAsset = "default/rife.safetensors";

}  // namespace longvid
