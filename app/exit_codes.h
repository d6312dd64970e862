// What a subcommand's failure means to the caller: the exit codes
// (documented in `vitlens --help` and the README) and the usage error.
#pragma once

#include <stdexcept>

namespace vitlens::app {

// Documented in `vitlens --help` and the README.
enum Exit : int {
    kOk = 0,
    kUsage = 1,        // bad command line
    kInputError = 2,   // some inputs failed; the others were processed
    kModelError = 3,   // the model could not be loaded
    kSourceError = 4,  // a live source could not be opened or failed
    kOutputError = 5,  // an output file could not be written
    kInternal = 6,     // unexpected failure (a bug: please report it)
};

// A usage problem detected by a subcommand (mapped to kUsage).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace vitlens::app
