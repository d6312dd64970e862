// The JSON helpers of config_json.h: parsing and bounded field reads shared
// by the config.json dialects and the preprocessing parsers.
#include "config_json.h"

#include <cmath>

#include "vitlens/errors.h"

namespace vitlens::detail {

[[noreturn]] void fail(const std::string& file, const std::string& what) { throw ModelError(file + ": " + what); }

json parse_json(const std::string& text, const std::string& name) {
    try {
        json j = json::parse(text);
        if (!j.is_object()) fail(name, "top level is not a JSON object");
        return j;
    } catch (const json::exception& e) {
        fail(name, std::string("not valid JSON: ") + e.what());
    }
}

// Integer field with bounds; `def` < 0 means required.
int get_int(const json& j, const std::string& key, const std::string& file, int def, int lo, int hi) {
    if (!j.contains(key) || j[key].is_null()) {
        if (def < 0) fail(file, "missing key '" + key + "'");
        return def;
    }
    const json& v = j[key];
    if (!v.is_number()) fail(file, "'" + key + "' must be a number, got " + std::string(v.type_name()));
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) fail(file, "'" + key + "' must be an integer, got " + v.dump());
    if (d < lo || d > hi)
        fail(file, "'" + key + "' = " + v.dump() + " is out of range [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    return static_cast<int>(d);
}

float get_float(const json& j, const std::string& key, const std::string& file, float def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number()) fail(file, "'" + key + "' must be a number, got " + std::string(j[key].type_name()));
    double d = j[key].get<double>();
    if (!std::isfinite(d)) fail(file, "'" + key + "' is not finite");
    return static_cast<float>(d);
}

bool get_bool(const json& j, const std::string& key, const std::string& file, bool def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) fail(file, "'" + key + "' must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
}

// A number or an array of 1 or 3 numbers, in double precision (as Python reads it).
std::array<double, 3> get_triple_d(const json& j, const std::string& key, const std::string& file,
                                   std::array<double, 3> def) {
    if (!j.contains(key) || j[key].is_null()) return def;
    const json& v = j[key];
    if (!v.is_number() && (!v.is_array() || (v.size() != 3 && v.size() != 1)))
        fail(file, "'" + key + "' must be a number or an array of 3 numbers, got " + v.dump());
    std::array<double, 3> out{};
    for (size_t i = 0; i < 3; ++i) {
        const json& e = v.is_number() ? v : v[v.size() == 1 ? 0 : i];
        if (!e.is_number()) fail(file, "'" + key + "' must hold numbers, got " + v.dump());
        out[i] = e.get<double>();
        if (!std::isfinite(static_cast<float>(out[i]))) fail(file, "'" + key + "' is not finite");
    }
    return out;
}

std::array<float, 3> get_triple(const json& j, const std::string& key, const std::string& file,
                                std::array<float, 3> def) {
    auto d = get_triple_d(j, key, file, {def[0], def[1], def[2]});
    return {static_cast<float>(d[0]), static_cast<float>(d[1]), static_cast<float>(d[2])};
}

}  // namespace vitlens::detail
