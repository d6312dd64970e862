#include "vitlens/frontend/text_format.h"

#include <cstdio>

namespace vitlens::frontend {

std::string json_escape(const std::string& s) {
    // JSON must be valid UTF-8: bytes that do not form UTF-8 (file names in
    // other encodings) become U+FFFD.
    std::string o;
    o.reserve(s.size() + 2);
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            bool ok = len >= 2 && i + len <= n && !(len == 2 && c < 0xC2);
            for (size_t k = 1; ok && k < len; ++k) ok = (p[i + k] & 0xC0) == 0x80;
            if (ok) {
                o.append(s, i, len);
                i += len;
            } else {
                o += "\ufffd";
                ++i;
            }
            continue;
        }
        switch (c) {
            case '"': o += "\\\""; break;
            case '\\': o += "\\\\"; break;
            case '\n': o += "\\n"; break;
            case '\r': o += "\\r"; break;
            case '\t': o += "\\t"; break;
            default:
                if (c < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    o += b;
                } else {
                    o += static_cast<char>(c);
                }
        }
        ++i;
    }
    return o;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
        if (c == '"') o += '"';
        o += c;
    }
    return o + "\"";
}

}  // namespace vitlens::frontend
