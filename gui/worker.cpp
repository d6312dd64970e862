#include "worker.h"

#include <QFileInfo>
#include <algorithm>
#include <chrono>
#include <opencv2/imgproc.hpp>
#include <sstream>
#include <thread>

#include "vitlens/hub/hub_cache.h"
#include "vitlens/hub/hub_download.h"
#include "vitlens/errors.h"
#include "vitlens/frontend/batches.h"
#include "vitlens/maps/map_view.h"
#include "vitlens/model/model_info.h"

namespace vitlens::gui {

QImage to_qimage(const cv::Mat& rgb) {
    CV_Assert(rgb.type() == CV_8UC3);
    QImage img(rgb.data, rgb.cols, rgb.rows, static_cast<int>(rgb.step), QImage::Format_RGB888);
    return img.copy();  // the QImage must not point into the cv::Mat
}

namespace {

BatchRow error_row(const QString& path, const QString& error) {  // error empty: a row to fill in
    BatchRow r;
    r.path = path;
    r.error = error;
    return r;
}

}  // namespace

cv::Mat to_mat(const QImage& in) {
    QImage img = in.convertToFormat(QImage::Format_RGB888);
    cv::Mat m(img.height(), img.width(), CV_8UC3, const_cast<uchar*>(img.bits()), img.bytesPerLine());
    return m.clone();
}

InferenceWorker::InferenceWorker(QObject* parent) : QObject(parent) {
    qRegisterMetaType<ModelInfo>();
    qRegisterMetaType<MapParams>();
    qRegisterMetaType<ImageResult>();
    qRegisterMetaType<MapResult>();
    qRegisterMetaType<BatchRow>();
}

InferenceWorker::~InferenceWorker() = default;

qint64 InferenceWorker::newJob() {
    std::lock_guard<std::mutex> lk(jobs_mu_);
    return ++issued_;
}

void InferenceWorker::requestStop(qint64 ticket) {
    std::lock_guard<std::mutex> lk(jobs_mu_);
    if (ticket <= finished_upto_) return;  // that job is over
    stopped_.insert(ticket);
    if (engine_ && engine_ticket_ == ticket) engine_->stop();
}

void InferenceWorker::requestStopAll() {
    std::lock_guard<std::mutex> lk(jobs_mu_);
    stop_all_upto_ = issued_;
    if (engine_) engine_->stop();
}

bool InferenceWorker::cancelled(qint64 ticket) {
    std::lock_guard<std::mutex> lk(jobs_mu_);
    return ticket <= stop_all_upto_ || stopped_.count(ticket) != 0;
}

// Jobs run one after another in the order they were sent, so every ticket
// up to this one is finished.
void InferenceWorker::forget(qint64 ticket) {
    std::lock_guard<std::mutex> lk(jobs_mu_);
    finished_upto_ = std::max(finished_upto_, ticket);
    stopped_.erase(stopped_.begin(), stopped_.upper_bound(ticket));
}

// Makes a live engine reachable by requestStop for exactly its lifetime:
// declared after the engine, so it unregisters before the engine dies. A
// stop that came before the registration is applied at once.
class EngineRegistration {
public:
    EngineRegistration(InferenceWorker& w, StreamEngine& e, qint64 ticket) : w_(w) {
        std::lock_guard<std::mutex> lk(w_.jobs_mu_);
        w_.engine_ = &e;
        w_.engine_ticket_ = ticket;
        if (ticket <= w_.stop_all_upto_ || w_.stopped_.count(ticket)) e.stop();
    }
    ~EngineRegistration() {
        std::lock_guard<std::mutex> lk(w_.jobs_mu_);
        w_.engine_ = nullptr;
        w_.engine_ticket_ = 0;
    }

private:
    InferenceWorker& w_;
};

void InferenceWorker::delay() {
    if (int ms = extra_delay_ms_.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

void InferenceWorker::loadModel(const QString& dir) {
    try {
        load(resolve_model_path(dir.toStdString()), dir);  // a folder or a hub id
    } catch (const std::exception& e) {
        emit modelFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::load(const std::string& path, const QString& dir) {
    try {
        auto c = std::make_unique<Classifier>(path);
        const ModelSpec& s = c->spec();
        std::ostringstream t;
        t << "Directory: " << dir.toStdString() << "\n";
        for (auto [key, value] : describe(s)) {
            key[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(key[0])));
            t << key << ": " << value << "\n";
        }
        t << "Labels (" << s.num_classes << "): " << label_list(s, 50);
        ModelInfo info;
        info.dir = dir;
        info.text = QString::fromStdString(t.str());
        info.layers = s.layers;
        info.heads = s.heads;
        info.grid_h = s.grid_h();
        info.grid_w = s.grid_w();
        info.n_prefix = s.n_prefix;
        for (auto& l : s.labels) info.labels << QString::fromStdString(l);
        clf_ = std::move(c);  // the previous model stays until the new one loaded
        has_current_ = false;
        emit modelLoaded(info);
    } catch (const std::exception& e) {
        emit modelFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::pullModel(const QString& text, qint64 ticket) {
    try {
        const auto id = parse_model_id(text.toStdString());
        if (!id) throw ArgumentError("'" + text.toStdString() + "' is not a model id ORG/NAME[@REVISION]");
        PullOptions o = pull_options_from_env();
        o.cancelled = [this, ticket] { return cancelled(ticket); };
        auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        o.progress = [&](const PullProgress& p) {  // at most 10 a second: the GUI thread repaints each
            const auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100) && !(p.total > 0 && p.done >= p.total)) return;
            last = now;
            emit pullProgress(QString::fromStdString(p.file), qint64(p.done), qint64(p.total), p.index, p.count);
        };
        const PullResult r = pull_model(*id, o);
        forget(ticket);
        emit pullFinished(QString::fromStdString(r.snapshot));
        load(r.snapshot, text);  // the snapshot itself: a folder named like the id cannot stand in
    } catch (const std::exception& e) {
        forget(ticket);
        emit modelFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::explainRgb(const cv::Mat& rgb, const QString& name) {
    if (!clf_) {
        emit imageFailed(name + ": no model is loaded");
        return;
    }
    try {
        delay();
        // One forward for every view the window offers: the attention and the features.
        current_ = clf_->explain(rgb, explain_request({MapSpec{}, MapSpec{.method = MapMethod::Features}},
                                                      5));
        current_rgb_ = rgb;
        has_current_ = true;
        const ModelSpec& s = clf_->spec();
        ImageResult r;
        r.source = name;
        r.image = to_qimage(rgb);
        r.top = current_.prediction.top;
        r.geometry = current_.geometry;
        r.norms = token_norm_report(current_.token_norms);
        r.n_prefix = s.n_prefix;
        r.grid_w = s.grid_w();
        emit imageExplained(r);
    } catch (const std::exception& e) {
        emit imageFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::explainFile(const QString& path) {
    try {
        explainRgb(decode_image(path.toStdString()), path);
    } catch (const std::exception& e) {
        emit imageFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::explainImage(const QImage& image, const QString& name) {
    if (image.isNull()) {
        emit imageFailed(name + ": empty image");
        return;
    }
    explainRgb(to_mat(image), name);
}

// d logit / d attention of class `cls` (-1: the top-1) for the current
// image, computed once per image and class.
void InferenceWorker::ensureGradients(int cls) {
    const int want = cls >= 0 || current_.prediction.top.empty() ? cls : current_.prediction.top.front().index;
    if (!current_.attention_grad.empty() && current_.explained_class == want) return;
    ExplainRequest r;
    r.need = MapNeed::Gradients;
    r.target_class = want;
    r.top_k = 1;
    Explained e = clf_->explain(current_rgb_, r);
    current_.attention_grad = std::move(e.attention_grad);
    current_.explained_class = e.explained_class;
}

void InferenceWorker::computeMap(const MapParams& p) {
    if (p.ticket != 0 && p.ticket < newest_map_ticket_.load()) return;  // a newer request is queued: it wins
    if (!has_current_ || !clf_) return;
    try {
        if (needs_gradients(p.spec)) ensureGradients(p.spec.target_class);
        MapView v = compute_view(current_, clf_->spec(), p.spec);
        // Small images (28x28) get a finer heat image so the view can show it smoothly.
        Geometry g = current_.geometry;
        const int k = std::max(1, 448 / std::max(1, std::max(g.orig_w, g.orig_h)));
        g.orig_w *= k;
        g.orig_h *= k;
        const cv::Mat rgba = view_rgba(v, g, p.colormap);
        QImage heat(rgba.data, rgba.cols, rgba.rows, static_cast<int>(rgba.step), QImage::Format_RGBA8888);
        MapResult r;
        r.heat = heat.convertToFormat(QImage::Format_ARGB32_Premultiplied);  // deep copy
        r.map = std::move(v.heat);  // empty for the features' colours
        r.params = p;
        emit mapReady(r);
    } catch (const std::exception& e) {
        emit imageFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::computeGallery(const QString& colormap) {
    if (!has_current_ || !clf_) return;
    try {
        const ModelSpec& s = clf_->spec();
        const auto maps = gallery(current_.attention, token_layout(s));
        const auto names = gallery_labels(s.layers, s.heads);
        OverlayStyle st;
        st.colormap = parse_colormap(colormap.toStdString());
        st.alpha = 0.6f;
        Geometry g = current_.geometry;
        const cv::Mat small = thumbnail(current_rgb_, 96, g);  // one small copy for all L x H tiles
        QList<QImage> tiles;
        QStringList labels;
        for (size_t i = 0; i < maps.size(); ++i) {
            tiles << to_qimage(render_overlay(small, maps[i], g, st));
            labels << QString::fromStdString(names[i]);
        }
        emit galleryReady(tiles, labels);
    } catch (const std::exception& e) {
        emit imageFailed(QString::fromStdString(e.what()));
    }
}

void InferenceWorker::classifyBatch(const QStringList& paths, qint64 ticket) {
    if (!clf_) {
        forget(ticket);
        emit imageFailed("no model is loaded");
        emit batchFinished();
        return;
    }
    int done = 0;
    auto add_row = [&](const BatchRow& row) {
        emit batchRow(row);
        emit batchProgress(++done, static_cast<int>(paths.size()));
    };
    if (const std::string why = head_problem(clf_->spec()); !why.empty()) {  // before any forward
        for (const QString& p : paths) add_row(error_row(p, QString::fromStdString(why + ": nothing to classify")));
    } else {
        try {
            classifyBatches(paths, ticket, add_row);
        } catch (const std::exception& e) {  // a model error of a whole batch (memory, preprocessing)
            emit imageFailed(QString::fromStdString(e.what()));
        }
    }
    forget(ticket);
    emit batchFinished();
}

// The CLI's decode-and-batch loop, eight images a forward.
void InferenceWorker::classifyBatches(const QStringList& paths, qint64 ticket,
                                      const std::function<void(const BatchRow&)>& add_row) {
    frontend::BatchHooks hooks;
    hooks.cancelled = [&] { return cancelled(ticket); };
    hooks.failed = [&](size_t i, const std::string& problem) {
        add_row(error_row(paths[qsizetype(i)], QString::fromStdString(problem)));
    };
    auto load = [&](size_t i) {
        delay();
        return decode_image(paths[qsizetype(i)].toStdString());
    };
    frontend::for_each_batch(size_t(paths.size()), load, clf_->spec(), 8,
                             [&](const std::vector<size_t>& items, const float* patches, int B) {
                                 if (cancelled(ticket)) return;  // Stop: not even the batch in hand
                                 std::vector<Prediction> preds;
                                 QString error;
                                 try {
                                     preds = clf_->classify_patches(patches, B, 1);
                                 } catch (const std::exception& e) {  // every image of this batch gets the reason
                                     error = QString::fromStdString(e.what());
                                 }
                                 for (int b = 0; b < B; ++b) {
                                     BatchRow row = error_row(paths[qsizetype(items[size_t(b)])], error);
                                     if (error.isEmpty()) {
                                         const TopEntry& top = preds[size_t(b)].top[0];
                                         row.label = QString::fromStdString(top.label);
                                         row.index = top.index;
                                         row.prob = top.prob;
                                     }
                                     add_row(row);
                                 }
                             },
                             hooks);
}

StreamSummary InferenceWorker::runLive(StreamEngine& engine, VideoRecorder* recorder) {
    return engine.run(*clf_, [&](const FrameResult& r) {
        delay();
        if (recorder) recorder->write(r.annotated, r.source_fps);
        // Newest frame wins towards the GUI too: skip a frame the GUI has not caught up with.
        if (live_pending_.exchange(true)) return;
        QString top;
        for (auto& t : r.prediction.top)
            top += QString("%1  %2%\n").arg(QString::fromStdString(t.label)).arg(100.0 * t.prob, 0, 'f', 1);
        emit liveFrame(to_qimage(r.annotated), top.trimmed(), r.fps, r.latency_ms, r.dropped, r.frame);
    });
}

void InferenceWorker::startLive(const QString& source, const QString& method, const QString& recordPath,
                                qint64 ticket) {
    if (!clf_) {
        forget(ticket);
        emit liveStopped("", "no model is loaded");
        return;
    }
    StreamOptions o;
    o.top_k = 3;
    QString error;
    StreamSummary sum;
    try {
        o.map->method = parse_map_method(method.toStdString());
        // The recording goes to a temporary file, moved into place only when complete.
        std::unique_ptr<VideoRecorder> recorder;
        if (!recordPath.isEmpty()) recorder = std::make_unique<VideoRecorder>(recordPath.toStdString());
        StreamEngine engine(source.toStdString(), o);
        EngineRegistration registration(*this, engine, ticket);
        sum = runLive(engine, recorder.get());
        if (recorder && recorder->frames() > 0) recorder->finish();
    } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
    }
    forget(ticket);
    live_pending_ = false;
    if (error.isEmpty() && !sum.error.empty()) error = QString::fromStdString(sum.error);
    QString s = QString("%1 frames read, %2 processed, %3 dropped, %4 FPS")
                    .arg(sum.read).arg(sum.processed).arg(sum.dropped).arg(sum.fps, 0, 'f', 1);
    emit liveStopped(s, error);
}

}  // namespace vitlens::gui

namespace vitlens::gui {

void InferenceWorker::listCameras() {
    QStringList out;
    for (const auto& c : list_cameras()) out << QString::fromStdString(c);
    emit camerasListed(out);
}

}  // namespace vitlens::gui
