// Inputs that are not regular files (FIFOs, devices, directories) are
// refused before anything opens them: opening a FIFO blocks until a writer
// comes, and reading /dev/zero never ends.
#pragma once

#include <string>

namespace vitlens {

// "" when `path` is (or links to) a regular file; else what it is instead,
// ready to follow the path in a message: "does not exist", "is a directory",
// "is a FIFO, not a regular file", "is a character device, not a regular file", ...
std::string not_a_regular_file(const std::string& path);

}  // namespace vitlens
