#include "text_out.h"

#include <cstdio>

namespace vitlens::app {

std::string float_str(float v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.9g", v);
    return b;
}

std::string top_json(const Prediction& p) {
    std::string s = "[";
    for (size_t i = 0; i < p.top.size(); ++i) {
        if (i) s += ", ";
        s += "{\"index\": " + std::to_string(p.top[i].index) + ", \"label\": \"" + json_escape(p.top[i].label) +
             "\", \"prob\": " + float_str(p.top[i].prob) + "}";
    }
    return s + "]";
}

}  // namespace vitlens::app
