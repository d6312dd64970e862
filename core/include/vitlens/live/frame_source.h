// Frame sources for live streams: cameras, devices, video files, URLs,
// GStreamer pipelines and image folders, all read through OpenCV videoio
// (or the image decoder), each opened with a deadline.
#pragma once

#include <functional>
#include <memory>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace vitlens {

enum class SourceKind { Camera, Device, File, Url, GStreamer, ImageSequence };
const char* source_kind_name(SourceKind k);
// "0" -> Camera, "/dev/video2" -> Device, "rtsp://.." -> Url, "... ! appsink" -> GStreamer,
// a folder or glob -> ImageSequence, anything else -> File.
SourceKind classify_source(const std::string& s);

struct SourceOptions {
    int width = 0, height = 0;   // requested camera size (0 = default)
    double fps = 0;              // requested camera FPS (0 = default)
    double open_timeout_s = 5;   // a source that cannot open in this time fails
    double read_timeout_s = 10;  // a live source silent this long fails
    double sequence_fps = 10;    // playback rate of an image folder/glob
};

// One frame source. read() returns false at the end of a file or sequence
// and throws SourceError when a live source fails. Not thread-safe: one
// thread reads it.
class FrameSource {
public:
    // Throws SourceError (naming the source and the problem) when it cannot open.
    // A URL or pipeline opens on a helper thread while this one waits for the
    // deadline, polling `cancelled`: when it returns true, open returns null
    // (the helper frees a source that opens late).
    static std::unique_ptr<FrameSource> open(const std::string& source, const SourceOptions& opt = {},
                                             const std::function<bool()>& cancelled = {});
    virtual ~FrameSource() = default;
    // bgr: (H, W) CV_8UC3 BGR frame; t_ms: the source's timestamp in ms.
    virtual bool read(cv::Mat& bgr, double* t_ms) = 0;
    virtual double fps() const = 0;  // nominal rate (0 if unknown)
    virtual bool live() const = 0;   // camera/URL/pipeline: frames arrive in real time
    virtual std::string describe() const = 0;
    SourceKind kind() const { return kind_; }

protected:
    SourceKind kind_ = SourceKind::File;
};

// /dev/video* devices that open, as "/dev/videoN (name)".
std::vector<std::string> list_cameras();

}  // namespace vitlens
