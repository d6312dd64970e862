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

#include "vitlens/maps/attention_maps.h"
#include "vitlens/maps/map_render.h"
#include "vitlens/maps/map_spec.h"
#include "vitlens/encoder/classifier.h"
#include "vitlens/images/output_file.h"
#include "vitlens/live/stream.h"

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
    qint64 ticket = 0;  // InferenceWorker::newMapTicket(); 0: never superseded
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
    // Newest map request wins: a computeMap whose MapParams::ticket is older
    // than the newest ticket handed out is skipped. Thread-safe.
    qint64 newMapTicket() { return ++newest_map_ticket_; }

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

    std::unique_ptr<Classifier> clf_;
    cv::Mat current_rgb_;
    Explained current_;
    bool has_current_ = false;
    std::atomic<int> extra_delay_ms_{0};
    std::atomic<bool> live_pending_{false};
    std::atomic<qint64> newest_map_ticket_{0};
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
