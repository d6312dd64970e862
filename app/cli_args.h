// Parsing one subcommand's command line: --help, positional INPUT...,
// the option checks of options.h; the input listing of the front-end layer.
#pragma once

#include <string>
#include <vector>

#include "options.h"
#include "vitlens/frontend/image_list.h"

namespace vitlens::app {

using frontend::collect_images;

// Parses argv for one subcommand; prints help and returns false on --help.
bool parse_args(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                const po::positional_options_description* positional, po::variables_map& vm,
                const po::options_description* hidden = nullptr);

// The same for commands whose positional arguments are INPUT... (image files
// or directories), collected into `inputs`; none given is a UsageError.
bool parse_args_with_inputs(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                            std::vector<std::string>& inputs, po::variables_map& vm);

}  // namespace vitlens::app
