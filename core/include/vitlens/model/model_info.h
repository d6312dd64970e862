// What a checkpoint is, in words: the rows `vitlens info` prints and the
// GUI's Model > Info shows.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "vitlens/model/model_config.h"

namespace vitlens {

// ("architecture", "vit_base_patch16_224 (timm naming)"), ("input", ...),
// ("encoder", ...), ("head", ...), ("parameters", ...), ("compute", ...),
// ("preprocessing", ...), ("maps", ...), ("memory", ...), in that order.
std::vector<std::pair<std::string, std::string>> describe(const ModelSpec& s);

// A class named by its index ("3") or its label ("Sneaker", any case).
// Throws ArgumentError naming the range or some of the labels.
int class_index(const ModelSpec& s, const std::string& index_or_label);

// "a, b, c, ..." with at most `max` labels (all when max <= 0), then the count left.
std::string label_list(const ModelSpec& s, int max);

}  // namespace vitlens
