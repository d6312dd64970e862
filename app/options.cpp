#include "options.h"

#include <cmath>
#include <sstream>

#include "exit_codes.h"

namespace vitlens::app {

namespace {

std::string long_name(const char* names) {
    std::string n = names;
    return "--" + n.substr(0, n.find(','));
}

template <class T>
std::string num(T v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

std::string join(const std::vector<std::string>& v, const char* last) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? (i + 1 == v.size() ? last : ", ") : "") + v[i];
    return s;
}

template <class T>
void check_range(const std::string& opt, T v, T lo, T hi, bool hi_open) {
    bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
    if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(v);
    if (!ok)
        throw UsageError(opt + " must be in [" + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]") + ", got " + num(v));
}

template <class T>
std::string range_text(T lo, T hi, bool hi_open) {
    return " [" + num(lo) + ", " + num(hi) + (hi_open ? ")" : "]");
}

}  // namespace

OptionTable& OptionTable::integer(const char* names, int* v, int def, int lo, int hi, const char* value_name,
                                  const std::string& help) {
    std::string opt = long_name(names);
    d_.add_options()(names,
                     po::value(v)->default_value(def)->value_name(value_name)->notifier(
                         [=](int x) { check_range(opt, x, lo, hi, false); }),
                     (help + range_text(lo, hi, false)).c_str());
    return *this;
}

OptionTable& OptionTable::integer(const char* names, int64_t* v, int64_t def, int64_t lo, int64_t hi,
                                  const char* value_name, const std::string& help) {
    std::string opt = long_name(names);
    d_.add_options()(names,
                     po::value(v)->default_value(def)->value_name(value_name)->notifier(
                         [=](int64_t x) { check_range(opt, x, lo, hi, false); }),
                     (help + range_text(lo, hi, false)).c_str());
    return *this;
}

OptionTable& OptionTable::real(const char* names, float* v, float def, float lo, float hi, bool hi_open,
                               const char* value_name, const std::string& help) {
    std::string opt = long_name(names);
    d_.add_options()(names,
                     po::value(v)->default_value(def, num(def))->value_name(value_name)->notifier(
                         [=](float x) { check_range(opt, x, lo, hi, hi_open); }),
                     (help + range_text(lo, hi, hi_open)).c_str());
    return *this;
}

OptionTable& OptionTable::real(const char* names, double* v, double def, double lo, double hi, bool hi_open,
                               const char* value_name, const std::string& help) {
    std::string opt = long_name(names);
    d_.add_options()(names,
                     po::value(v)->default_value(def, num(def))->value_name(value_name)->notifier(
                         [=](double x) { check_range(opt, x, lo, hi, hi_open); }),
                     (help + range_text(lo, hi, hi_open)).c_str());
    return *this;
}

OptionTable& OptionTable::real_implicit(const char* names, float* v, float implicit, float lo, float hi,
                                        const char* value_name, const std::string& help) {
    std::string opt = long_name(names);
    d_.add_options()(names,
                     po::value(v)->implicit_value(implicit, num(implicit))->value_name(value_name)->notifier(
                         [=](float x) { check_range(opt, x, lo, hi, false); }),
                     (help + range_text(lo, hi, false)).c_str());
    return *this;
}

OptionTable& OptionTable::choice(const char* names, std::string* v, const std::string& def,
                                 std::vector<std::string> allowed, const char* value_name, const std::string& help) {
    std::string opt = long_name(names);
    auto check = [=](const std::string& x) {
        for (const auto& a : allowed)
            if (x == a) return;
        throw UsageError(opt + " must be " + join(allowed, " or ") + ", got '" + x + "'");
    };
    auto* val = po::value(v)->value_name(value_name)->notifier(check);
    if (!def.empty()) val->default_value(def);
    bool listed = true;  // does the help already name every value?
    for (const auto& x : allowed) listed = listed && help.find(x) != std::string::npos;
    d_.add_options()(names, val, (listed ? help : help + " (" + join(allowed, " or ") + ")").c_str());
    return *this;
}

OptionTable& OptionTable::text(const char* names, std::string* v, const char* value_name, const std::string& help) {
    std::string opt = long_name(names);
    d_.add_options()(names, po::value(v)->value_name(value_name)->notifier([=](const std::string& x) {
        if (x.empty()) throw UsageError(opt + " needs a value, got an empty string");
    }),
                     help.c_str());
    return *this;
}

OptionTable& OptionTable::flag(const char* names, bool* v, const std::string& help) {
    d_.add_options()(names, po::bool_switch(v), help.c_str());
    return *this;
}

}  // namespace vitlens::app
