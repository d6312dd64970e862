// Which image files a list of inputs names: the one listing rule of the
// CLI's INPUT... arguments and the GUI's folder tab.
#pragma once

#include <string>
#include <vector>

namespace vitlens::frontend {

// Image files named by `inputs`: files as given, directories walked
// recursively for image extensions, sorted; each path once. Missing paths are
// reported into `errors` ("path: problem").
std::vector<std::string> collect_images(const std::vector<std::string>& inputs, std::vector<std::string>& errors);

}  // namespace vitlens::frontend
