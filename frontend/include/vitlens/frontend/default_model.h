// Which model runs when none is chosen (no --model, nothing opened in the
// window): application policy, so it lives in the front-end layer; core
// only ever takes a path.
#pragma once

#include <string>

namespace vitlens::frontend {

extern const char* const kBundledModel;  // "vit-fashion-mnist"

// $VITLENS_MODEL, else the bundled model next to this executable: the build
// tree's assets/models/ (bin/../../assets/models/NAME), else the installed
// data dir (bin/../share/vitlens/models/NAME). `where` gets the reason.
// Empty when none is there.
std::string default_model(std::string* where = nullptr);

}  // namespace vitlens::frontend
