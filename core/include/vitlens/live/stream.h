// Live streams: frame sources through OpenCV videoio, a capture thread that
// keeps only the newest frame, and an inference loop that takes the newest
// frame whenever it is free. Latency never grows with a slow model: frames
// are dropped (and counted), never queued.
#pragma once

#include <array>

#include <functional>
#include <memory>
#include <optional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "vitlens/maps/annotate.h"
#include "vitlens/maps/attention_maps.h"
#include "vitlens/maps/map_render.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/maps/map_view.h"
#include "vitlens/encoder/classifier.h"
#include "vitlens/live/frame_source.h"

namespace vitlens {

struct StreamOptions {
    // The view of every frame (rollout; MapMethod::Features: the patch
    // features as colours); nullopt: none.
    std::optional<MapSpec> map = MapSpec{};
    int top_k = 5;
    int64_t max_frames = 0;  // processed frames (0 = no limit)
    double duration_s = 0;   // 0 = no limit
    int every = 1;           // compute the heatmap every Nth processed frame
    float smooth = 0.f;      // heatmap EMA: map = smooth * previous + (1 - smooth) * new
    bool reconnect = false;  // reopen a failed camera/URL with backoff
    bool pace_files = true;  // play files at their own FPS (false: every frame, no drops)
    bool annotate = true;    // draw overlay + labels + FPS into FrameResult::annotated
    OverlayStyle style;
    SourceOptions source;
};

// Timing of one processed frame, in milliseconds.
struct FrameTimes {
    double capture = 0, preprocess = 0, encoder = 0, maps = 0, render = 0;
    double backward = 0;  // attribution maps: the backward pass (encoder is then the forward alone)
};

struct FrameResult {
    int64_t frame = 0;        // index of the frame in the source (0-based)
    double t_ms = 0;          // source timestamp
    double latency_ms = 0;    // from capture to result
    Prediction prediction;
    MapView view;             // the newest map (or features' colours); empty when StreamOptions::map is none
    Geometry geometry;
    cv::Mat frame_rgb;        // the frame that was classified
    cv::Mat annotated;        // RGB, when annotate
    FrameTimes times;
    double fps = 0;           // processed frames per second, sliding 2 s window
    double source_fps = 0;    // the source's nominal rate (0 if unknown)
    int64_t dropped = 0;      // so far
};

struct StreamSummary {
    int64_t read = 0, processed = 0, dropped = 0;
    double seconds = 0, fps = 0;
    int reconnects = 0;
    std::string error;  // why it stopped early, if it did
    std::string source;  // what was opened
    double source_fps = 0;
    // median and p95 per stage: capture, preprocess, encoder, [backward,] maps, render, latency
    // (backward when the map is an attribution)
    std::vector<std::pair<std::string, std::pair<double, double>>> stages;
};

class StreamEngine {
public:
    using Callback = std::function<void(const FrameResult&)>;
    StreamEngine(std::string source, StreamOptions opt);
    ~StreamEngine();

    // Opens the source, starts the capture thread and runs inference on the
    // calling thread until the end, stop(), a limit, or a source failure
    // (reported in the summary's error). `clf` must live on this thread.
    // `on_result` runs on this thread after every processed frame.
    // Throws SourceError when the source cannot be opened; a stop() during
    // the opening returns an empty summary. The capture thread is joined
    // before run returns or throws: camera, file and URL reads are bounded
    // by the source's read timeout. A GStreamer pipeline that goes silent
    // cannot be interrupted (OpenCV 4.6 has no read timeout for it): after
    // its read timeout + 2 s that thread is let go and frees the pipeline
    // when its read returns.
    // One run per engine: once stopped it stays stopped (a stop() that races
    // with the start is never lost); make a new engine for the next run.
    StreamSummary run(Classifier& clf, const Callback& on_result);
    void stop();  // from any thread
    bool stopping() const;

    struct Shared;  // the capture thread's hand-off (defined in stream.cpp)

private:
    std::string source_;
    StreamOptions opt_;
    std::shared_ptr<Shared> shared_;
};

}  // namespace vitlens
