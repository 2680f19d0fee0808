// The official config of an LVDM 3D autoencoder as the trainers save it in `longvid.config`.
#pragma once
#include <nlohmann/json.hpp>

#include "vae3d/lvdm_autoencoder3d.h"

namespace longvid {

// `model.params` of lvdm.models.autoencoder3d.AutoencoderKL: monitor, embed_dim, ddconfig (the
// aemodules3d Encoder / Decoder), and the longvid extension `longvid_stream_window` when set.
// The caller adds lossconfig (and scale / shift factors).
nlohmann::json lvdm_ae3d_params_json(const LvdmAe3dConfig& a);

}  // namespace longvid
