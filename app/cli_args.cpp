#include "cli_args.h"

#include <iostream>

#include "exit_codes.h"

namespace vitlens::app {

bool parse_args(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                const po::positional_options_description* positional, po::variables_map& vm,
                const po::options_description* hidden) {
    po::options_description all;
    all.add(visible);
    if (hidden) all.add(*hidden);
    po::command_line_parser p(argc, argv);
    p.options(all);
    if (positional) p.positional(*positional);
    try {
        po::store(p.run(), vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    if (vm.count("help")) {
        std::cout << usage << "\n\n" << visible << "\n";
        return false;
    }
    try {
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    return true;
}

bool parse_args_with_inputs(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                            std::vector<std::string>& inputs, po::variables_map& vm) {
    po::options_description hidden;
    hidden.add_options()("input", po::value(&inputs)->multitoken());
    po::positional_options_description pos;
    pos.add("input", -1);
    if (!parse_args(argc, argv, usage, visible, &pos, vm, &hidden)) return false;
    if (inputs.empty()) throw UsageError("no INPUT given (image files or directories)");
    return true;
}

}  // namespace vitlens::app
