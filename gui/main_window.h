// vitlens-gui's main window: the image view with the error banner, the
// tabs (explain, token norms, folder, live) in the controls dock, the head
// gallery dock, the menus and the status bar, wired to the worker thread.
// All decoding, inference and map computation happen on the worker thread.
#pragma once

#include <QMainWindow>
#include <QThread>
#include <optional>
#include <utility>

#include "image_view.h"
#include "worker.h"

class QLabel;
class QListWidget;
class QTabWidget;

namespace vitlens::gui {

class ExplainTab;
class FolderTab;
class HubDialog;
class LiveTab;
class NormsTab;
class RecentMenu;
class ScreenshotMode;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    InferenceWorker* worker() const { return worker_; }
    ImageView* view() const { return view_; }
    // Loads a model / opens an image (asynchronously).
    void openModel(const QString& dir);
    // Model > Open from the Hub: pulls `id` into the hub cache with a
    // progress dialog (Cancel stops it), then loads it.
    void openFromHub(const QString& id);
    void openImage(const QString& path);
    void openFolder(const QString& dir);
    void startLive(const QString& source);
    void stopLive();
    // Screenshot mode: once the first image's map (and gallery) are shown,
    // save the window to `path` and quit with exit code 0 (1 on failure).
    void setScreenshot(const QString& path, const QString& method, std::optional<std::pair<int, int>> query);
    // The Folder tab's batch table, as the tab's Export buttons write it.
    bool exportCsv(const QString& path);
    bool exportJson(const QString& path);
    QString lastError() const { return last_error_; }
    bool modelReady() const { return model_ready_; }

signals:
    void requestLoadModel(const QString& dir);
    void requestPull(const QString& id, qint64 ticket);
    void requestExplainFile(const QString& path);
    void requestExplainImage(const QImage& image, const QString& name);
    void requestMap(const vitlens::gui::MapParams& p);  // ticketed: newest wins
    void requestGallery(const QString& colormap);
    void requestBatch(const QStringList& paths, qint64 ticket);
    void requestLive(const QString& source, const QString& method, const QString& record, qint64 ticket);
    void requestCameras();
    // For tests and screenshot mode: the view shows a new map.
    void mapShown();
    void imageShown();
    void errorShown(const QString& message);

protected:
    void dragEnterEvent(QDragEnterEvent* e) override;
    void dropEvent(QDropEvent* e) override;
    void closeEvent(QCloseEvent* e) override;
    void keyPressEvent(QKeyEvent* e) override;

private slots:
    void onModelLoaded(const vitlens::gui::ModelInfo& info);
    void onModelFailed(const QString& message);
    void onImageExplained(const vitlens::gui::ImageResult& r);
    void onImageFailed(const QString& message);
    void onMapReady(const vitlens::gui::MapResult& r);
    void onGalleryReady(const QList<QImage>& tiles, const QStringList& labels);
    void onLiveFrame(const QImage& annotated, const QString& top, double fps, double latency, qint64 dropped, qint64 frame);
    void onLiveStopped(const QString& summary, const QString& error);

private:
    void connectWorker();
    void buildUi();
    void buildCentral();
    void connectTabs();
    void buildDocks();
    void buildMenus();
    void showError(const QString& message);
    void clearError();
    void setFolder(const QString& dir);  // where the file dialogs start
    void setLive(bool on);
    void toggleLive();
    void paste();
    void saveSnapshot();
    void showModelInfo();

    QThread thread_;
    InferenceWorker* worker_ = nullptr;
    ImageView* view_ = nullptr;
    QLabel* error_banner_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    ExplainTab* explain_tab_ = nullptr;
    NormsTab* norms_tab_ = nullptr;
    FolderTab* folder_tab_ = nullptr;
    LiveTab* live_tab_ = nullptr;
    QListWidget* gallery_ = nullptr;
    // status bar
    QLabel* model_status_ = nullptr;
    QLabel* fps_label_ = nullptr;
    RecentMenu* recent_menu_ = nullptr;
    HubDialog* hub_dialog_ = nullptr;  // made on the first Open from the Hub
    ScreenshotMode* screenshot_ = nullptr;

    ModelInfo model_;
    bool model_ready_ = false;
    bool live_ = false;
    qint64 live_ticket_ = 0;  // the live job Stop stops (InferenceWorker::newJob)
    qint64 pull_ticket_ = 0;  // the download the hub dialog's Cancel stops
    QString last_error_;
    QString folder_;
};

}  // namespace vitlens::gui
