#include "train/ae_config_json.h"

namespace longvid {

nlohmann::json lvdm_ae3d_params_json(const LvdmAe3dConfig& a) {
  using json = nlohmann::json;
  json enc{{"target", "lvdm.models.modules.aemodules3d.Encoder"},
           {"params",
            {{"n_hiddens", a.n_hiddens},
             {"downsample", a.downsample},
             {"image_channel", a.image_channel},
             {"norm_type", "group"},
             {"padding_type", a.padding_type},
             {"double_z", true},
             {"z_channels", a.z_channels}}}};
  json dec{{"target", "lvdm.models.modules.aemodules3d.Decoder"},
           {"params",
            {{"n_hiddens", a.decoder_n_hiddens},
             {"upsample", a.upsample},
             {"z_channels", a.z_channels},
             {"image_channel", a.image_channel},
             {"norm_type", "group"}}}};
  json params{{"monitor", "val/rec_loss"},
              {"embed_dim", a.embed_dim},
              {"ddconfig", {{"double_z", true}, {"z_channels", a.z_channels}, {"encoder", enc}, {"decoder", dec}}}};
  if (a.stream_window > 0) params["longvid_stream_window"] = a.stream_window;
  return params;
}

}  // namespace longvid
