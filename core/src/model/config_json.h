// The small JSON helpers the config parsers share: parsing a JSON object,
// bounded reads of ints, floats, bools and mean/std triples, and ModelError
// "FILE: what" failures. Private to core/src.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>

namespace vitlens::detail {

using json = nlohmann::json;

// Throws ModelError("FILE: WHAT").
[[noreturn]] void fail(const std::string& file, const std::string& what);

// `text` as a JSON object; fails naming `name` when it is not valid JSON or not an object.
json parse_json(const std::string& text, const std::string& name);

// Integer field with bounds; `def` < 0 means required.
int get_int(const json& j, const std::string& key, const std::string& file, int def, int lo, int hi);

// Finite number field; `def` when missing or null.
float get_float(const json& j, const std::string& key, const std::string& file, float def);

// Boolean field; `def` when missing or null.
bool get_bool(const json& j, const std::string& key, const std::string& file, bool def);

// A number or an array of 1 or 3 numbers, in double precision (as Python reads it).
std::array<double, 3> get_triple_d(const json& j, const std::string& key, const std::string& file,
                                   std::array<double, 3> def);

// get_triple_d, as floats.
std::array<float, 3> get_triple(const json& j, const std::string& key, const std::string& file,
                                std::array<float, 3> def);

}  // namespace vitlens::detail
