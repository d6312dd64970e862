#include "vitlens/images/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "vitlens/errors.h"

namespace vitlens {

namespace fs = std::filesystem;

namespace {

// The descriptor a path names: /dev/stdout, /dev/stderr, /dev/fd/N,
// /proc/self/fd/N (or /proc/<our pid>/fd/N); -1 for any other path. Writing
// to these re-opens nothing: the descriptor the shell set up is used as it is.
int descriptor_of(const std::string& p) {
    if (p == "/dev/stdout") return 1;
    if (p == "/dev/stderr") return 2;
    for (const std::string& prefix : {std::string("/dev/fd/"), std::string("/proc/self/fd/"),
                                     "/proc/" + std::to_string(::getpid()) + "/fd/"}) {
        if (p.rfind(prefix, 0) != 0 || p.size() == prefix.size()) continue;
        const std::string n = p.substr(prefix.size());
        if (n.size() > 6 || n.find_first_not_of("0123456789") != std::string::npos) return -1;
        return std::stoi(n);
    }
    return -1;
}

std::string lower_extension(const std::string& path) {
    std::string e = fs::path(path).extension().string();
    for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

std::string free_space(const std::string& file) {
    std::error_code ec;
    fs::path dir = fs::path(file).parent_path();
    const fs::space_info s = fs::space(dir.empty() ? fs::path(".") : dir, ec);
    if (ec) return "";
    return "; " + std::to_string(s.available) + " bytes free on its file system";
}

}  // namespace

OutputTarget resolve_output(const std::string& path) {
    OutputTarget t;
    t.named = path;
    std::string p = path;
    for (int hop = 0; hop < 40; ++hop) {
        t.file = p;
        if (const int fd = descriptor_of(p); fd >= 0) {
            t.stream = true;
            t.fd = fd;
            return t;
        }
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) {
            if (errno == ENOENT) return t;  // a new file
            throw OutputError(path + ": cannot write there (" + std::strerror(errno) + ")");
        }
        if (S_ISLNK(st.st_mode)) {
            std::error_code ec;
            const fs::path to = fs::read_symlink(p, ec);
            if (ec) throw OutputError(path + ": cannot read the link (" + ec.message() + ")");
            p = to.is_absolute() ? to.string() : (fs::path(p).parent_path() / to).string();
            continue;
        }
        if (S_ISDIR(st.st_mode))
            throw OutputError(path + (p == path ? "" : " (-> " + p + ")") + ": is a directory; name a file");
        t.exists = S_ISREG(st.st_mode);
        t.stream = !t.exists;  // a FIFO, a device or a socket
        return t;
    }
    throw OutputError(path + ": too many levels of symbolic links");
}

void check_can_write(const std::string& path, bool overwrite, const std::string& how_to_replace) {
    const OutputTarget t = resolve_output(path);
    if (t.exists && !overwrite)
        throw OutputError(path + ": already exists" + (how_to_replace.empty() ? "" : "; " + how_to_replace));
}

std::string temp_path_beside(const std::string& path) {
    fs::path p(path);
    return (p.parent_path() / ("." + p.stem().string() + ".tmp-" + std::to_string(::getpid()) + p.extension().string()))
        .string();
}

void commit_temp(const std::string& tmp, const std::string& path) {
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        throw OutputError(path + ": cannot rename the finished file into place (" + ec.message() + ")");
    }
}

AtomicFile::AtomicFile(const std::string& path) : t_(resolve_output(path)) {
    if (t_.stream) {  // a FIFO waits here for its reader, as a shell redirection does
        fd_ = t_.fd >= 0 ? ::fcntl(t_.fd, F_DUPFD_CLOEXEC, 0) : ::open(t_.file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd_ < 0) fail("cannot open for writing", errno);
        return;
    }
    tmp_ = temp_path_beside(t_.file);
    for (int attempt = 0; attempt < 2 && fd_ < 0; ++attempt) {
        fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd_ < 0 && errno == EEXIST && attempt == 0) ::unlink(tmp_.c_str());  // left by a killed run of this pid
    }
    if (fd_ < 0) {
        const int err = errno;
        tmp_.clear();  // not ours: never removed
        fail("cannot write in this folder", err);
    }
    struct stat st {};
    if (t_.exists && ::stat(t_.file.c_str(), &st) == 0) (void)::fchmod(fd_, st.st_mode & 07777);
}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!done_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const std::string& what, int err) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    tmp_.clear();
    const std::string where = t_.file == t_.named ? "" : " (-> " + t_.file + ")";
    throw OutputError(t_.named + where + ": " + what + " (" + std::strerror(err) + ")" +
                      (t_.exists && !t_.stream ? "; the existing file was left as it was" : ""));
}

void AtomicFile::write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t k = ::write(fd_, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) fail("cannot write", k < 0 ? errno : ENOSPC);
        p += k;
        n -= size_t(k);
    }
}

void AtomicFile::commit() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot finish writing", errno);
    if (t_.stream) {
        done_ = true;
        return;
    }
    if (::rename(tmp_.c_str(), t_.file.c_str()) != 0) fail("cannot rename the finished file into place", errno);
    done_ = true;
}

void write_text_atomic(const std::string& path, const std::string& text) {
    AtomicFile f(path);
    f.write(text);
    f.commit();
}

void write_image_atomic(const std::string& path, const cv::Mat& rgb) {
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> bytes;
    bool ok = false;
    try {
        ok = cv::imencode(lower_extension(path).empty() ? ".png" : lower_extension(path), bgr, bytes);
    } catch (const cv::Exception&) {
        ok = false;
    }
    if (!ok) throw OutputError(path + ": cannot encode a " + std::to_string(rgb.cols) + "x" + std::to_string(rgb.rows) +
                               " image for this extension (use .png or .jpg)");
    AtomicFile f(path);
    f.write(bytes.data(), bytes.size());
    f.commit();
}

bool is_video_extension(const std::string& path) {
    const std::string e = lower_extension(path);
    return e == ".mp4" || e == ".m4v" || e == ".mov" || e == ".avi" || e == ".mkv";
}

namespace {

cv::VideoCapture open_video(const std::string& path) {
    cv::VideoCapture cap(path, cv::CAP_FFMPEG);
    if (!cap.isOpened()) cap.open(path, cv::CAP_ANY);
    return cap;
}

// True when `path` holds `frames` frames: it opens (its trailer or index was
// written) and that many packets read back in order (a cut file has fewer;
// seeking is no test: without an index the demuxer lands on whatever is
// there). grab() demuxes without decoding, so this is cheap.
bool frames_read_back(const std::string& path, int64_t frames) {
    cv::VideoCapture cap = open_video(path);
    if (!cap.isOpened()) return false;
    int64_t n = 0;
    while (n < frames && cap.grab()) ++n;
    return n >= frames;
}

}  // namespace

bool output_decodes(const std::string& path, int64_t min_frames) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return false;
    if (is_video_extension(path)) return frames_read_back(path, std::max<int64_t>(1, min_frames));
    std::ifstream f(path, std::ios::binary);
    std::vector<uchar> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    try {
        return !cv::imdecode(bytes, cv::IMREAD_UNCHANGED).empty();
    } catch (const cv::Exception&) {
        return false;
    }
}

struct VideoRecorder::Writer {
    cv::VideoWriter video;
    cv::Size size;
    cv::Mat bgr, resized;
};

VideoRecorder::VideoRecorder(std::string path) : path_(std::move(path)) {
    if (!is_video_extension(path_))
        throw OutputError(path_ + ": a video must end in .mp4, .m4v, .mov, .avi or .mkv");
    const OutputTarget t = resolve_output(path_);
    if (t.stream)
        throw OutputError(path_ + ": not a regular file (a FIFO, a device or a descriptor); a video is written to a "
                          "regular file, since its encoder seeks back to finish it");
    file_ = t.file;
    tmp_ = temp_path_beside(file_);
    ::unlink(tmp_.c_str());
    const int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) throw OutputError(path_ + ": cannot write in its folder (" + std::strerror(errno) + ")");
    ::close(fd);
}

VideoRecorder::~VideoRecorder() {
    if (done_) return;
    w_.reset();
    ::unlink(tmp_.c_str());
}

void VideoRecorder::write(const cv::Mat& rgb, double fps) {
    if (!w_) {
        const std::string e = lower_extension(path_);
        const int fourcc = e == ".avi" || e == ".mkv" ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G')
                                                      : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
        auto w = std::make_unique<Writer>();
        w->size = rgb.size();
        if (!w->video.open(tmp_, cv::CAP_FFMPEG, fourcc, fps > 0 ? fps : 15.0, w->size) &&
            !w->video.open(tmp_, fourcc, fps > 0 ? fps : 15.0, w->size))
            throw OutputError(path_ + ": cannot open a video writer for " + std::to_string(rgb.cols) + "x" +
                              std::to_string(rgb.rows) + " frames");
        w_ = std::move(w);
    }
    const cv::Mat* src = &rgb;
    if (rgb.size() != w_->size) {
        cv::resize(rgb, w_->resized, w_->size, 0, 0, cv::INTER_AREA);
        src = &w_->resized;
    }
    cv::cvtColor(*src, w_->bgr, cv::COLOR_RGB2BGR);
    w_->video.write(w_->bgr);
    ++frames_;
}

void VideoRecorder::finish() {
    if (done_) return;
    if (!w_) throw OutputError(path_ + ": no frame was processed, no video written");
    w_->video.release();
    w_.reset();
    // the encoder reports no write error: read the file back instead
    if (!frames_read_back(tmp_, frames_)) {
        std::error_code ec;
        const auto bytes = fs::file_size(tmp_, ec);
        const std::string space = free_space(file_);  // before the temporary goes
        ::unlink(tmp_.c_str());
        throw OutputError(path_ + ": the video could not be written whole (" + std::to_string(frames_) +
                          " frames encoded, not all read back from the " + std::to_string(ec ? 0 : bytes) +
                          " bytes written" + space + "); nothing was moved into place");
    }
    commit_temp(tmp_, file_);
    done_ = true;
}

}  // namespace vitlens
