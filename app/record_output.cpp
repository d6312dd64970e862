#include "record_output.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "exit_codes.h"
#include "text_out.h"
#include "vitlens/errors.h"
#include "vitlens/images/input_file.h"
#include "vitlens/images/output_file.h"

namespace vitlens::app {

std::string record_image(const std::string& line, const std::string& format) {
    if (format == "jsonl") {
        const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        return j.is_object() && j.contains("image") && j["image"].is_string() ? j["image"].get<std::string>() : "";
    }
    if (line.empty() || line[0] != '"') return line.substr(0, line.find(','));
    std::string out;
    for (size_t i = 1; i < line.size(); ++i) {
        if (line[i] != '"') out += line[i];
        else if (i + 1 < line.size() && line[i + 1] == '"') out += line[++i];
        else break;
    }
    return out;
}

std::vector<std::pair<std::string, size_t>> split_records(const std::string& text, bool csv) {
    std::vector<std::pair<std::string, size_t>> out;
    bool quoted = false;
    size_t start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        if (csv && text[i] == '"') quoted = !quoted;  // "" inside a field toggles twice
        if (text[i] != '\n' || quoted) continue;
        out.push_back({text.substr(start, i - start), i + 1});
        start = i + 1;
    }
    return out;
}

// The records that stay on resume: the valid ones up to the first that is
// not (a torn line, a line of another program); the rest is redone.
size_t RecordOutput::read_back(const std::string& text) {
    const auto records = split_records(text, format_ == "csv");
    size_t keep = 0;
    for (size_t i = 0; i < records.size(); ++i) {
        if (format_ == "csv" && i == 0) {  // the header
            keep = records[0].second;
            continue;
        }
        const std::string img = record_image(records[i].first, format_);
        if (img.empty()) {
            std::fprintf(stderr, "vitlens: --resume: %s: record %zu is not a %s record; it and the %zu after it are "
                         "dropped and their images done again\n", path_.c_str(), i + 1, format_.c_str(),
                         records.size() - i - 1);
            break;
        }
        ++lines_;
        done_.insert(img);
        keep = records[i].second;
    }
    return keep;
}

RecordOutput::RecordOutput(const std::string& path, const std::string& format, bool resume, bool overwrite)
    : path_(path), format_(format) {
    if (path.empty()) {
        if (resume) throw UsageError("--resume needs --output FILE: it continues that file");
        f_ = stdout;
        return;
    }
    if (resume && format == "text")
        throw UsageError("--resume reads back the records of " + path + ": use --format jsonl or csv");
    const OutputTarget t = resolve_output(path);
    if (t.stream) {  // a FIFO or device: written straight through, nothing to replace or read back
        if (resume) {
            const std::string what = not_a_regular_file(t.file);
            throw UsageError("--resume reads back " + path + ", which " +
                             (what.empty() ? "names a descriptor (a stream), not a regular file" : what));
        }
        if (t.fd >= 0) {
            const int fd = ::dup(t.fd);
            f_ = fd >= 0 ? ::fdopen(fd, "wb") : nullptr;
            if (!f_ && fd >= 0) ::close(fd);
        } else {
            f_ = std::fopen(t.file.c_str(), "wb");
        }
        if (!f_) throw OutputError(path + ": cannot open for writing: " + std::strerror(errno));
        owned_ = true;
        return;
    }
    if (t.exists && !resume && !overwrite)
        throw OutputError(path + ": already exists; --resume continues it, --overwrite replaces it");
    size_t keep = 0;
    if (t.exists && resume) {  // the complete records stay; a torn last line goes
        std::ifstream in(t.file, std::ios::binary);
        std::stringstream s;
        s << in.rdbuf();
        if (!in && !in.eof()) throw OutputError(path + ": cannot read it back to resume");
        keep = read_back(s.str());
        empty_ = keep == 0;
    }
    // a new file grows in place (a killed run resumes it); one that --overwrite
    // replaces grows beside it and is renamed over it by close(), so a run
    // that fails leaves the old records as they were
    if (t.exists && !resume) {
        tmp_ = temp_path_beside(t.file);
        final_ = t.file;
        ::unlink(tmp_.c_str());
    }
    f_ = std::fopen(tmp_.empty() ? t.file.c_str() : tmp_.c_str(), resume ? "a+b" : tmp_.empty() ? "wb" : "wbx");
    if (!f_) throw OutputError(path + ": cannot open for writing: " + std::strerror(errno));
    owned_ = true;
    if (resume && ::ftruncate(::fileno(f_), off_t(keep)) != 0) {
        const std::string why = std::strerror(errno);
        std::fclose(f_);
        throw OutputError(path + ": cannot drop the partly written last line: " + why);
    }
}

bool RecordOutput::has(const std::string& path) const {
    if (done_.empty()) return false;
    if (format_ != "jsonl") return done_.count(path) != 0;
    return done_.count(record_image("{\"image\": \"" + json_escape(path) + "\"}", "jsonl")) != 0;
}

RecordOutput::~RecordOutput() {
    if (owned_ && f_) std::fclose(f_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void RecordOutput::close() {
    if (!owned_ || !f_) return flush();
    std::FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) throw OutputError(path_ + ": write failed when closing: " + std::strerror(errno));
    if (tmp_.empty()) return;
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
        throw OutputError(path_ + ": cannot rename the finished file into place: " + std::strerror(errno));
    tmp_.clear();
}

void RecordOutput::write(const std::string& lines) {
    if (std::fwrite(lines.data(), 1, lines.size(), f_) != lines.size())
        throw OutputError((path_.empty() ? std::string("standard output") : path_) + ": write failed: " + std::strerror(errno));
}

void RecordOutput::flush() {
    if (std::fflush(f_) != 0)
        throw OutputError((path_.empty() ? std::string("standard output") : path_) + ": write failed: " + std::strerror(errno));
}

}  // namespace vitlens::app
