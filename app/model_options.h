// --model, --threads, --precision, --input-size: the options of every
// subcommand that runs a model, and the model they choose.
#pragma once

#include <string>

#include "options.h"
#include "vitlens/encoder/classifier.h"

namespace vitlens::app {

// --model, --threads, --precision: shared by every subcommand that runs a model.
struct ModelOptions {
    std::string model;
    int threads = 0;
    std::string precision = "f32";
    std::string input_size;  // "H" or "HxW"; empty: the model's own
    // with_precision false: a command that takes its own --precision (compare: a list)
    void add_to(po::options_description& d, bool with_precision = true);
    // The model directory to load: --model, else the bundled default.
    std::string resolve(std::string* where = nullptr) const;
    ClassifierOptions classifier_options() const;
};

}  // namespace vitlens::app
