// Records the subcommands print: numbers written exactly, a prediction's
// top entries as JSON, and the front-end layer's escaping.
#pragma once

#include <string>

#include "vitlens/encoder/classifier.h"
#include "vitlens/frontend/text_format.h"

namespace vitlens::app {

using frontend::csv_field;
using frontend::json_escape;

// The JSON array of top entries: [{"index": i, "label": "...", "prob": p}, ...]
std::string top_json(const Prediction& p);
std::string float_str(float v);

}  // namespace vitlens::app
