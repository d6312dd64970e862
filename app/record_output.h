// Where a command's per-image records go: standard output, or a file that
// grows line by line (flushed per batch) and that --resume continues.
#pragma once

#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace vitlens::app {

class RecordOutput {
public:
    // path empty: standard output. An existing file is refused unless
    // `resume` (continue it) or `overwrite` (replaced by close(), so a run
    // that fails keeps the old file). With `resume`, a partly written
    // last line is dropped and done() lists the images of the complete ones
    // ("image" of a jsonl object; the first field of a csv row after the
    // header). format: "jsonl", "csv" or "text" (text cannot resume).
    // Throws UsageError / OutputError naming the file.
    RecordOutput(const std::string& path, const std::string& format, bool resume, bool overwrite);
    ~RecordOutput();
    RecordOutput(const RecordOutput&) = delete;
    RecordOutput& operator=(const RecordOutput&) = delete;

    const std::set<std::string>& done() const { return done_; }
    // Whether `path` has a record: compared as written and read back (a name
    // that is not UTF-8 is stored with U+FFFD in jsonl, and found again so).
    bool has(const std::string& path) const;
    size_t lines() const { return lines_; }  // complete records at the start (resume)
    bool empty_at_start() const { return empty_; }  // write a csv header only then
    void write(const std::string& lines);
    void flush();  // OutputError when the disk refuses
    void close();  // flush and close a file, checked (OutputError)

private:
    size_t read_back(const std::string& text);
    std::string path_, tmp_, final_;  // tmp_: a replacement growing beside final_
    std::FILE* f_ = nullptr;
    bool owned_ = false, empty_ = true;
    std::string format_;
    size_t lines_ = 0;
    std::set<std::string> done_;
};

// The complete records of `text` (a CSV field in quotes may hold newlines),
// each with the offset just past its newline; a torn last record is left out.
std::vector<std::pair<std::string, size_t>> split_records(const std::string& text, bool csv);

// The image of one complete record line; "" when the line has none.
std::string record_image(const std::string& line, const std::string& format);

}  // namespace vitlens::app
