// Position embeddings on another patch grid: bicubic resampling exactly as
// torch.nn.functional.interpolate(mode="bicubic", align_corners=False) does
// it, with or without antialias (HF interpolate_pos_encoding: without;
// timm resample_abs_pos_embed: with).
#pragma once

#include "vitlens/model/model_config.h"
#include "vitlens/model/tensor.h"

namespace vitlens {

// grid: (gh * gw, D) row-major over the grid (row by row); returns (oh * ow, D).
Tensor resample_grid(const Tensor& grid, int gh, int gw, int oh, int ow, PosResample mode);

// The encoder's (T, D) position embedding for `spec`'s input grid, from the
// checkpoint's (1, rows, D) or (rows, D) tensor: prefix rows kept (or zero
// rows when the checkpoint has none: the prefix tokens get no position),
// patch rows resampled from spec.pos_grid to spec.grid when they differ.
// Throws ModelError naming `source` when the row count does not fit.
Tensor position_embedding(const Tensor& pos, const ModelSpec& spec, const std::string& source);

}  // namespace vitlens
