// Declaring a subcommand's options together with what each accepts. Every
// numeric option has a range and every enumerated one its allowed values;
// the checks run when the command line is parsed (parse_args), before any
// work starts, and a violation is a UsageError (exit 1) that names the
// option, what it accepts and what it got. --help shows the ranges.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace vitlens::app {

namespace po = boost::program_options;

class OptionTable {
public:
    explicit OptionTable(po::options_description& d) : d_(d) {}

    // names: "long" or "long,s"; value in [lo, hi].
    OptionTable& integer(const char* names, int* v, int def, int lo, int hi, const char* value_name, const std::string& help);
    OptionTable& integer(const char* names, int64_t* v, int64_t def, int64_t lo, int64_t hi, const char* value_name,
                         const std::string& help);
    // value in [lo, hi], or [lo, hi) when hi_open; NaN and infinities are refused.
    OptionTable& real(const char* names, float* v, float def, float lo, float hi, bool hi_open, const char* value_name,
                      const std::string& help);
    OptionTable& real(const char* names, double* v, double def, double lo, double hi, bool hi_open,
                      const char* value_name, const std::string& help);
    // An optional value: `implicit` when the option is given bare, nothing when absent.
    OptionTable& real_implicit(const char* names, float* v, float implicit, float lo, float hi, const char* value_name,
                               const std::string& help);
    // One of `allowed`.
    OptionTable& choice(const char* names, std::string* v, const std::string& def, std::vector<std::string> allowed,
                        const char* value_name, const std::string& help);
    // Free text (paths, sources); empty means not given.
    OptionTable& text(const char* names, std::string* v, const char* value_name, const std::string& help);
    OptionTable& flag(const char* names, bool* v, const std::string& help);

private:
    po::options_description& d_;
};

}  // namespace vitlens::app
