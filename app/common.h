// Shared pieces of the `vitlens` subcommands: exit codes, model selection,
// input listing, output helpers. Uses only core's public headers.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "options.h"
#include "vitlens/classifier.h"
#include "vitlens/output_file.h"

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

// --model, --threads, --precision: shared by every subcommand that runs a model.
struct ModelOptions {
    std::string model;
    int threads = 0;
    std::string precision = "f32";
    std::string input_size;  // "H" or "HxW"; empty: the model's own
    void add_to(po::options_description& d);
    // The model directory to load: --model, else the bundled default.
    std::string resolve(std::string* where = nullptr) const;
    ClassifierOptions classifier_options() const;
};

// Image files named by `inputs`: files as given, directories walked
// recursively for image extensions, sorted; each path once. Missing paths are reported into
// `errors` ("path: problem").
std::vector<std::string> collect_images(const std::vector<std::string>& inputs, std::vector<std::string>& errors);

// Parses argv for one subcommand; prints help and returns false on --help.
bool parse_args(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                const po::positional_options_description* positional, po::variables_map& vm,
                const po::options_description* hidden = nullptr);

// The same for commands whose positional arguments are INPUT... (image files
// or directories), collected into `inputs`; none given is a UsageError.
bool parse_args_with_inputs(int argc, char** argv, const std::string& usage, const po::options_description& visible,
                            std::vector<std::string>& inputs, po::variables_map& vm);

// Flushes standard output now; throws OutputError with errno's reason when
// it did not all get out (commands that print per input call it per input).
void flush_stdout();

// True when stderr is a terminal (progress bars vs periodic lines).
bool stderr_is_tty();

// Progress on stderr: a bar with rate and ETA on a terminal, a plain line
// every few seconds otherwise.
class Progress {
public:
    Progress(std::string what, size_t total);
    void update(size_t done);
    void finish();

private:
    std::string what_;
    size_t total_;
    bool tty_;
    double start_, last_ = -1e9;
    size_t told_ = SIZE_MAX;
};

double now_seconds();

// JSON string escaping for hand-written lines.
std::string json_escape(const std::string& s);
// CSV field quoting.
std::string csv_field(const std::string& s);

int cmd_classify(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_explain(int argc, char** argv);
int cmd_stream(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_embed(int argc, char** argv);
int cmd_pull(int argc, char** argv);

}  // namespace vitlens::app

namespace vitlens::app {

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


// The JSON array of top entries: [{"index": i, "label": "...", "prob": p}, ...]
std::string top_json(const Prediction& p);
std::string float_str(float v);

}  // namespace vitlens::app
