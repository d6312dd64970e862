#include "vitlens/output_file.h"

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

void check_can_write(const std::string& path, bool overwrite) {
    std::error_code ec;
    if (!overwrite && fs::exists(path, ec)) throw OutputError(path + ": already exists; pass --overwrite to replace it");
}

void write_text_atomic(const std::string& path, const std::string& text) {
    const std::string tmp = temp_path_beside(path);
    {
        std::ofstream f(tmp, std::ios::binary);
        f << text;
        f.flush();
        if (!f) {
            const std::string why = std::strerror(errno);
            std::error_code ec;
            fs::remove(tmp, ec);
            throw OutputError(path + ": cannot write (" + why + ")");
        }
    }
    commit_temp(tmp, path);
}

void write_image_atomic(const std::string& path, const cv::Mat& rgb) {
    const std::string tmp = temp_path_beside(path);
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    bool ok = false;
    try {
        ok = cv::imwrite(tmp, bgr);
    } catch (const cv::Exception&) {
        ok = false;
    }
    if (!ok) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw OutputError(path + ": cannot write image");
    }
    commit_temp(tmp, path);
}

static std::string lower_extension(const std::string& path) {
    std::string e = fs::path(path).extension().string();
    for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

bool is_video_extension(const std::string& path) {
    const std::string e = lower_extension(path);
    return e == ".mp4" || e == ".m4v" || e == ".mov" || e == ".avi" || e == ".mkv";
}

struct VideoRecorder::Writer {
    cv::VideoWriter video;
    cv::Size size;
    cv::Mat bgr, resized;
};

VideoRecorder::VideoRecorder(std::string path) : path_(std::move(path)), tmp_(temp_path_beside(path_)) {
    if (!is_video_extension(path_))
        throw OutputError(path_ + ": a video must end in .mp4, .m4v, .mov, .avi or .mkv");
    std::ofstream probe(tmp_, std::ios::binary);
    if (!probe) throw OutputError(path_ + ": cannot write in this folder (" + std::strerror(errno) + ")");
}

VideoRecorder::~VideoRecorder() {
    if (done_) return;
    w_.reset();
    std::error_code ec;
    fs::remove(tmp_, ec);
}

void VideoRecorder::write(const cv::Mat& rgb, double fps) {
    if (!w_) {
        const std::string e = lower_extension(path_);
        const int fourcc = e == ".avi" || e == ".mkv" ? cv::VideoWriter::fourcc('M', 'J', 'P', 'G')
                                                      : cv::VideoWriter::fourcc('m', 'p', '4', 'v');
        auto w = std::make_unique<Writer>();
        w->size = rgb.size();
        if (!w->video.open(tmp_, fourcc, fps > 0 ? fps : 15.0, w->size))
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
    commit_temp(tmp_, path_);
    done_ = true;
}

}  // namespace vitlens
