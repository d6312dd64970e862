// Where a subcommand's output files go: a folder written file by file
// (each whole or not at all), the names of an input's outputs, and the
// CLI's overwrite rule.
#pragma once

#include <filesystem>
#include <map>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vitlens/images/output_file.h"

namespace vitlens::app {

// core's check_can_write with the CLI's remedy ("pass --overwrite to replace it").
void check_replaceable(const std::string& path, bool overwrite);

// Output files land whole or not at all: each is written to a temporary
// name in the target folder and renamed when complete. An existing file is
// replaced only with --overwrite or when the folder was empty at start.
class OutputDir {
public:
    // Creates dir; throws OutputError. `resume`: an existing output that does
    // not decode (empty, cut) is not a result and may be replaced.
    OutputDir(std::string dir, bool overwrite, bool resume = false);
    // Full path for `name` (a relative path: its folders are created); throws
    // OutputError if it exists and may not be replaced, and InputError if
    // this run already wrote it for another input (`input`).
    std::string target(const std::string& name, const std::string& input = "");
    // Writes an RGB image as PNG atomically (throws OutputError).
    void write_png(const std::string& name, const cv::Mat& rgb, const std::string& input = "");
    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
    bool may_replace_, resume_;
    std::map<std::string, std::string> written_;  // name -> the input it was written for
};

// The name of an input's outputs: its path relative to the folder that holds
// every INPUT argument (a folder argument, or a file argument's folder), with
// no extension. `a/x.png b/x.png` give "a/x" and "b/x"; a folder ROOT gives
// paths under ROOT; one folder of files gives plain stems. It depends only on
// the arguments, so every --shard of a run names an image alike.
class OutputNames {
public:
    explicit OutputNames(const std::vector<std::string>& inputs);
    std::string key(const std::string& file) const;

private:
    std::filesystem::path base_;
};

}  // namespace vitlens::app
