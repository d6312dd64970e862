// The GUI's inference worker: lives on its own QThread, owns the
// Classifier (oneDNN primitives are created and run there), decodes
// images, computes maps and runs live streams. The GUI thread only sends
// requests (queued slots) and receives results (signals).
#pragma once

#include <QImage>
#include <QObject>
#include <QString>
#include <QStringList>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "vitlens/attention_maps.h"
#include "vitlens/map_render.h"
#include "vitlens/map_spec.h"
#include "vitlens/classifier.h"
#include "vitlens/output_file.h"
#include "vitlens/stream.h"

namespace vitlens::gui {

struct ModelInfo {
    QString dir, text;  // text: multi-line description for the info dialog
    int layers = 0, heads = 0, grid_h = 0, grid_w = 0, n_prefix = 0;
    QStringList labels;
};

// What the view needs to show a map.
struct MapParams {
    MapSpec spec;                        // what to compute (core's one way to ask for a map)
    Colormap colormap = Colormap::Turbo;
};

struct ImageResult {
    QString source;
    QImage image;                 // original, RGB888
    std::vector<TopEntry> top;
    Geometry geometry;
    std::vector<LayerNorms> norms;
    int n_prefix = 1, grid_w = 0;
};

struct MapResult {
    QImage heat;       // ARGB32 at original size: coloured map, alpha 0 outside the crop
    AttentionMap map;
    MapParams params;
};

struct BatchRow {
    QString path, label, error;
    int index = -1;
    float prob = 0.f;
};

class InferenceWorker : public QObject {
    Q_OBJECT
public:
    explicit InferenceWorker(QObject* parent = nullptr);
    ~InferenceWorker() override;
    // Stoppable jobs (a batch, a live stream) carry a ticket from newJob(),
    // taken by the GUI thread when it sends the request. requestStop(ticket)
    // stops that job whether it is running or still queued behind another;
    // requestStopAll() stops every job issued so far. Thread-safe.
    qint64 newJob();
    void requestStop(qint64 ticket);
    void requestStopAll();
    // Tests: sleep this long inside every inference (simulates a slow model).
    void setExtraDelayForTesting(int ms) { extra_delay_ms_ = ms; }
    // Newest-frame-wins towards the GUI: the GUI calls this when it has shown a live frame.
    void liveFrameShown() { live_pending_ = false; }
    // Newest map request wins: the GUI thread calls this as it sends each
    // computeMap / computeFeatures (a direct connection to the same signal),
    // so the worker skips a request that a newer one has superseded.
    void mapRequested() { ++maps_requested_; }

public slots:
    void loadModel(const QString& dir);
    // Downloads a hub model (pull_model) into the cache, then loads it.
    // Progress comes as pullProgress; requestStop(ticket) cancels (the partial
    // file stays, to resume); failures come as modelFailed.
    void pullModel(const QString& id, qint64 ticket);
    void explainFile(const QString& path);
    void explainImage(const QImage& image, const QString& name);
    // The map (or, MapMethod::Features, the patch features as colours: a
    // mapReady with an empty map) of the current image, from the one forward
    // explainFile ran (plus a backward, once per class, for attribution).
    void computeMap(const vitlens::gui::MapParams& p);
    void computeFeatures();  // computeMap of MapMethod::Features
    void computeGallery(const QString& colormap);
    void classifyBatch(const QStringList& paths, qint64 ticket);
    void startLive(const QString& source, const QString& method, const QString& recordPath, qint64 ticket);
    void listCameras();

signals:
    void modelLoaded(const vitlens::gui::ModelInfo& info);
    void modelFailed(const QString& message);
    void pullProgress(const QString& file, qint64 done, qint64 total, int index, int count);
    void pullFinished(const QString& snapshot);
    void imageExplained(const vitlens::gui::ImageResult& r);
    void imageFailed(const QString& message);
    void mapReady(const vitlens::gui::MapResult& r);
    void galleryReady(const QList<QImage>& tiles, const QStringList& labels);
    void batchRow(const vitlens::gui::BatchRow& row);
    void batchProgress(int done, int total);
    void batchFinished();
    void liveFrame(const QImage& annotated, const QString& topText, double fps, double latency_ms, qint64 dropped,
                   qint64 frame);
    void liveStopped(const QString& summary, const QString& error);
    void camerasListed(const QStringList& cameras);

private:
    friend class EngineRegistration;
    void explainRgb(const cv::Mat& rgb, const QString& name);
    void load(const std::string& path, const QString& shown);  // `shown`: the folder or id, as the user gave it
    void delay();
    bool cancelled(qint64 ticket);
    void forget(qint64 ticket);
    StreamSummary runLive(StreamEngine& engine, VideoRecorder* recorder);
    void ensureGradients(int cls);
    void classifyBatches(const QStringList& paths, qint64 ticket, const std::function<void(const BatchRow&)>& add_row);
    bool superseded();  // counts this map request; true when a newer one was sent

    std::unique_ptr<Classifier> clf_;
    cv::Mat current_rgb_;
    Explained current_;
    bool has_current_ = false;
    std::atomic<int> extra_delay_ms_{0};
    std::atomic<bool> live_pending_{false};
    std::atomic<qint64> maps_requested_{0};  // mapRequested() calls (GUI thread)
    qint64 maps_started_ = 0;                // map requests the worker has taken
    std::mutex jobs_mu_;                 // guards the five below
    qint64 issued_ = 0;                  // the newest ticket
    qint64 stop_all_upto_ = 0;           // requestStopAll(): tickets <= this are stopped
    std::set<qint64> stopped_;           // requestStop(ticket) for jobs not finished yet
    qint64 finished_upto_ = 0;           // every job with a ticket <= this is over
    StreamEngine* engine_ = nullptr;     // the running live stream, registered by EngineRegistration
    qint64 engine_ticket_ = 0;
};

// RGB cv::Mat <-> QImage (deep copies).
QImage to_qimage(const cv::Mat& rgb);
cv::Mat to_mat(const QImage& img);

}  // namespace vitlens::gui

Q_DECLARE_METATYPE(vitlens::gui::ModelInfo)
Q_DECLARE_METATYPE(vitlens::gui::MapParams)
Q_DECLARE_METATYPE(vitlens::gui::ImageResult)
Q_DECLARE_METATYPE(vitlens::gui::MapResult)
Q_DECLARE_METATYPE(vitlens::gui::BatchRow)
