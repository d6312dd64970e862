// vitlens-gui's main window: image view with overlay, predictions,
// attention controls, head gallery, token norms, folder mode, live mode.
// All decoding, inference and map computation happen on the worker thread.
#pragma once

#include <QMainWindow>
#include <QThread>
#include <optional>

#include "image_view.h"
#include "worker.h"

class QComboBox;
class QSpinBox;
class QSlider;
class QCheckBox;
class QLabel;
class QProgressBar;
class QListWidget;
class QTableWidget;
class QTabWidget;
class QPushButton;
class QMenu;
class QTreeWidget;

class QProgressDialog;

namespace vitlens::gui {

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
    bool exportCsv(const QString& path);
    bool exportJson(const QString& path);
    QString lastError() const { return last_error_; }
    bool modelReady() const { return model_ready_; }

signals:
    void requestLoadModel(const QString& dir);
    void requestPull(const QString& id, qint64 ticket);
    void requestExplainFile(const QString& path);
    void requestExplainImage(const QImage& image, const QString& name);
    void requestMap(const vitlens::gui::MapParams& p);
    void requestFeatures();
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
    bool eventFilter(QObject* watched, QEvent* e) override;  // clicks on the top-5 rows

private slots:
    // Explains the class of top-5 row `row` (attribution map, row highlighted).
    void selectClassRow(int row);
    void onModelLoaded(const vitlens::gui::ModelInfo& info);
    void onModelFailed(const QString& message);
    void onImageExplained(const vitlens::gui::ImageResult& r);
    void onImageFailed(const QString& message);
    void onMapReady(const vitlens::gui::MapResult& r);
    void onGalleryReady(const QList<QImage>& tiles, const QStringList& labels);
    void onBatchRow(const vitlens::gui::BatchRow& row);
    void onLiveFrame(const QImage& annotated, const QString& top, double fps, double latency, qint64 dropped, qint64 frame);
    void onLiveStopped(const QString& summary, const QString& error);
    void onPatchClicked(int row, int col);
    void updateMap();

private:
    void buildUi();
    void buildCentral();
    QWidget* buildExplainTab();
    QWidget* buildPredictionsBox();
    QWidget* buildAttentionControls();
    QWidget* buildNormsTab();
    QWidget* buildFolderTab();
    QWidget* buildLiveTab();
    void buildDocks();
    void buildMenus();
    QProgressDialog* pull_dialog_ = nullptr;
    void showError(const QString& message);
    void clearError();
    void addRecent(const QString& path);
    void rebuildRecentMenu();
    void paste();
    void saveSnapshot();
    static bool saveWhole(const QPixmap& pixmap, const QString& path);
    void connectAttentionControls();
    void showModelInfo();
    void maybeFinishScreenshot();
    MapParams currentParams() const;
    MapMethod currentMethod() const;

    QThread thread_;
    InferenceWorker* worker_ = nullptr;
    ImageView* view_ = nullptr;
    QLabel* error_banner_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    // explain tab
    QLabel* image_label_ = nullptr;
    std::vector<QLabel*> top_labels_;
    std::vector<QProgressBar*> top_bars_;
    std::vector<int> top_indices_;       // the class of each top-5 row, for the current image
    std::optional<int> explained_row_;   // attribution: the top-5 row explained (none: the top-1)
    void highlightRow(std::optional<int> row);
    QString mapCaption() const;
    QComboBox* method_ = nullptr;
    QSpinBox* layer_ = nullptr;
    QComboBox* head_ = nullptr;
    QComboBox* fusion_ = nullptr;
    QSlider* discard_ = nullptr;
    QComboBox* colormap_ = nullptr;
    QSlider* opacity_ = nullptr;
    QCheckBox* overlay_ = nullptr;
    QCheckBox* clip_ = nullptr;
    QCheckBox* pca_ = nullptr;  // show the patch features (PCA) instead of a map
    QLabel* query_label_ = nullptr;
    // gallery, norms
    QListWidget* gallery_ = nullptr;
    QTreeWidget* norms_ = nullptr;
    // folder tab
    QListWidget* files_ = nullptr;
    QTableWidget* table_ = nullptr;
    QProgressBar* batch_progress_ = nullptr;
    QPushButton* classify_all_ = nullptr;
    // live tab
    QComboBox* source_ = nullptr;
    QPushButton* live_button_ = nullptr;
    QCheckBox* record_ = nullptr;
    QLabel* live_top_ = nullptr;
    // status bar
    QLabel* model_status_ = nullptr;
    QLabel* fps_label_ = nullptr;
    QMenu* recent_menu_ = nullptr;

    ModelInfo model_;
    bool model_ready_ = false;
    bool live_ = false;
    qint64 live_ticket_ = 0;  // the live job Stop stops (InferenceWorker::newJob)
    bool has_image_ = false;
    std::optional<std::pair<int, int>> query_;
    QString last_error_;
    QString folder_;
    QString screenshot_path_;
    bool screenshot_map_ = false, screenshot_gallery_ = false;
    std::optional<std::pair<int, int>> screenshot_query_;
};

}  // namespace vitlens::gui
