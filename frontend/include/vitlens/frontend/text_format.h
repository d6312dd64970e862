// Text for hand-written JSON Lines and CSV: the one escaping rule of every
// record the CLI prints and the GUI exports.
#pragma once

#include <string>

namespace vitlens::frontend {

// JSON string escaping (no quotes added); bytes that are not UTF-8 become U+FFFD.
std::string json_escape(const std::string& s);
// A CSV field, quoted (and its quotes doubled) when it holds a comma, quote or newline.
std::string csv_field(const std::string& s);

}  // namespace vitlens::frontend
