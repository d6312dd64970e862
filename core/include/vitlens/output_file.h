// Output files land whole or not at all: each is written to a hidden
// temporary name in the target's folder and renamed into place when
// complete, so an interrupted run never leaves a truncated file.
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <string>

namespace vitlens {

// ".<stem>.tmp-<pid><ext>" beside `path` (same folder: the rename is atomic;
// same extension: encoders pick the format from it).
std::string temp_path_beside(const std::string& path);
// Renames `tmp` to `path`; on failure removes `tmp` and throws OutputError.
void commit_temp(const std::string& tmp, const std::string& path);
// Throws OutputError when `path` exists and `overwrite` is false.
void check_can_write(const std::string& path, bool overwrite);

void write_text_atomic(const std::string& path, const std::string& text);
// rgb: (H, W) CV_8UC3 RGB; the format follows the extension.
void write_image_atomic(const std::string& path, const cv::Mat& rgb);

// True for the extensions VideoRecorder can write: .mp4 .m4v .mov (MPEG-4),
// .avi .mkv (Motion JPEG).
bool is_video_extension(const std::string& path);

// An annotated video written frame by frame to a temporary file and moved
// into place by finish(). Destroyed unfinished, it removes the temporary.
class VideoRecorder {
public:
    // Creates the temporary file now, so an unwritable folder fails before
    // any work starts. Throws OutputError (bad extension, cannot write).
    explicit VideoRecorder(std::string path);
    ~VideoRecorder();
    VideoRecorder(const VideoRecorder&) = delete;
    VideoRecorder& operator=(const VideoRecorder&) = delete;

    // rgb: (H, W) CV_8UC3 RGB. The first frame fixes the size and `fps`
    // (<= 0: 15); later frames of another size are resized to it.
    void write(const cv::Mat& rgb, double fps);
    // Closes the file and renames it into place. Throws OutputError when no
    // frame was written or the rename fails (the temporary is removed).
    void finish();
    int64_t frames() const { return frames_; }
    const std::string& path() const { return path_; }

private:
    struct Writer;
    std::string path_, tmp_;
    std::unique_ptr<Writer> w_;
    int64_t frames_ = 0;
    bool done_ = false;
};

}  // namespace vitlens
