// Error types thrown by vitlens core. Front ends map them to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace vitlens {

// A problem with a checkpoint: files, config, weights, names or shapes.
class ModelError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A problem with one input image (missing, unreadable, not an image, too large).
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A problem with a live source (camera, video file, URL, pipeline).
class SourceError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A value the caller chose that cannot work: an unknown method or colour
// map name, a layer or head the model does not have, a patch outside the
// grid. Front ends report it as a usage error (exit 1).
class ArgumentError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A problem writing an output file.
class OutputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace vitlens
