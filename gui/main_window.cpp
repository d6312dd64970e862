#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QIcon>
#include <QKeyEvent>
#include <QKeySequence>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMimeData>
#include <QPixmap>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QUrl>
#include <QVBoxLayout>

#include "explain_tab.h"
#include "folder_tab.h"
#include "hub_dialog.h"
#include "live_tab.h"
#include "model_info_dialog.h"
#include "norms_tab.h"
#include "recent_files.h"
#include "screenshot.h"

namespace vitlens::gui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle("vitlens");
    setAcceptDrops(true);
    worker_ = new InferenceWorker;
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connectWorker();
    thread_.start();

    screenshot_ = new ScreenshotMode(this);
    buildUi();
    buildMenus();

    QSettings s;
    if (s.contains("geometry")) restoreGeometry(s.value("geometry").toByteArray());
    else resize(1280, 820);
    explain_tab_->restoreSettings(s);
    setFolder(s.value("folder").toString());
    connect(worker_, &InferenceWorker::camerasListed, live_tab_, &LiveTab::setCameras);
    emit requestCameras();
}

MainWindow::~MainWindow() {
    worker_->requestStopAll();
    thread_.quit();
    thread_.wait();
}

// Requests to the worker's queued slots, its results to this window.
void MainWindow::connectWorker() {
    connect(this, &MainWindow::requestLoadModel, worker_, &InferenceWorker::loadModel);
    connect(this, &MainWindow::requestPull, worker_, &InferenceWorker::pullModel);
    connect(worker_, &InferenceWorker::pullProgress, this,
            [this](const QString& file, qint64 done, qint64 total, int index, int count) {
                if (hub_dialog_) hub_dialog_->showProgress(file, done, total, index, count);
            });
    connect(worker_, &InferenceWorker::pullFinished, this, [this](const QString& snapshot) {
        if (hub_dialog_) hub_dialog_->hide();  // hide(), not close(): closing a progress dialog cancels
        statusBar()->showMessage(tr("Downloaded to %1; loading ...").arg(snapshot));
    });
    connect(this, &MainWindow::requestExplainFile, worker_, &InferenceWorker::explainFile);
    connect(this, &MainWindow::requestExplainImage, worker_, &InferenceWorker::explainImage);
    connect(this, &MainWindow::requestMap, worker_, &InferenceWorker::computeMap);
    connect(this, &MainWindow::requestGallery, worker_, &InferenceWorker::computeGallery);
    connect(this, &MainWindow::requestBatch, worker_, &InferenceWorker::classifyBatch);
    connect(this, &MainWindow::requestLive, worker_, &InferenceWorker::startLive);
    connect(this, &MainWindow::requestCameras, worker_, &InferenceWorker::listCameras);
    connect(worker_, &InferenceWorker::modelLoaded, this, &MainWindow::onModelLoaded);
    connect(worker_, &InferenceWorker::modelFailed, this, &MainWindow::onModelFailed);
    connect(worker_, &InferenceWorker::imageExplained, this, &MainWindow::onImageExplained);
    connect(worker_, &InferenceWorker::imageFailed, this, &MainWindow::onImageFailed);
    connect(worker_, &InferenceWorker::mapReady, this, &MainWindow::onMapReady);
    connect(worker_, &InferenceWorker::galleryReady, this, &MainWindow::onGalleryReady);
    connect(worker_, &InferenceWorker::liveFrame, this, &MainWindow::onLiveFrame);
    connect(worker_, &InferenceWorker::liveStopped, this, &MainWindow::onLiveStopped);
}

void MainWindow::buildUi() {
    buildCentral();
    explain_tab_ = new ExplainTab(view_);
    norms_tab_ = new NormsTab;
    folder_tab_ = new FolderTab;
    live_tab_ = new LiveTab;
    tabs_ = new QTabWidget;
    tabs_->addTab(explain_tab_, tr("Explain"));
    tabs_->addTab(norms_tab_, tr("Token norms"));
    tabs_->addTab(folder_tab_, tr("Folder"));
    tabs_->addTab(live_tab_, tr("Live"));
    connectTabs();
    buildDocks();
    model_status_ = new QLabel(tr("No model"));
    fps_label_ = new QLabel;
    fps_label_->setObjectName("fpsLabel");
    statusBar()->addPermanentWidget(fps_label_);
    statusBar()->addPermanentWidget(model_status_);
}

// The image view with the error banner above it.
void MainWindow::buildCentral() {
    auto* central = new QWidget;
    auto* v = new QVBoxLayout(central);
    v->setContentsMargins(0, 0, 0, 0);
    error_banner_ = new QLabel;
    error_banner_->setObjectName("errorBanner");
    error_banner_->setWordWrap(true);
    error_banner_->setStyleSheet("background:#7a1f1f;color:white;padding:6px;");
    error_banner_->hide();
    view_ = new ImageView;
    view_->setObjectName("imageView");
    v->addWidget(error_banner_);
    v->addWidget(view_, 1);
    setCentralWidget(central);
}

// What the tabs ask for goes to the worker; the batch's results come back to the folder tab.
void MainWindow::connectTabs() {
    connect(view_, &ImageView::patchClicked, explain_tab_, &ExplainTab::selectPatch);
    // Newest map request wins: each carries a ticket, and the worker skips one
    // that a newer ticket has superseded while it waited in the queue.
    connect(explain_tab_, &ExplainTab::requestMap, this, [this](MapParams p) {
        p.ticket = worker_->newMapTicket();
        emit requestMap(p);
    });
    connect(explain_tab_, &ExplainTab::requestGallery, this, &MainWindow::requestGallery);
    connect(folder_tab_, &FolderTab::imageChosen, this, &MainWindow::openImage);
    connect(folder_tab_, &FolderTab::batchRequested, this,
            [this](const QStringList& paths) { emit requestBatch(paths, worker_->newJob()); });
    connect(folder_tab_, &FolderTab::failed, this, &MainWindow::showError);
    connect(worker_, &InferenceWorker::batchRow, folder_tab_, &FolderTab::addRow);
    connect(worker_, &InferenceWorker::batchProgress, folder_tab_, &FolderTab::showProgress);
    connect(worker_, &InferenceWorker::batchFinished, this, [this] {
        folder_tab_->finishBatch();
        statusBar()->showMessage(tr("Classified %1 images").arg(folder_tab_->rowCount()), 5000);
    });
    connect(live_tab_, &LiveTab::camerasRequested, this, &MainWindow::requestCameras);
    connect(live_tab_, &LiveTab::startStopClicked, this, &MainWindow::toggleLive);
}

// The controls dock on the right, the head gallery at the bottom.
void MainWindow::buildDocks() {
    auto* dock = new QDockWidget(tr("Prediction and controls"), this);
    dock->setObjectName("controlsDock");
    dock->setWidget(tabs_);
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    addDockWidget(Qt::RightDockWidgetArea, dock);

    gallery_ = new QListWidget;
    gallery_->setObjectName("galleryList");
    gallery_->setViewMode(QListView::IconMode);
    gallery_->setIconSize(QSize(96, 96));
    gallery_->setResizeMode(QListView::Adjust);
    gallery_->setMovement(QListView::Static);
    gallery_->setWrapping(true);
    gallery_->setFlow(QListView::LeftToRight);
    gallery_->setSpacing(2);
    connect(gallery_, &QListWidget::itemClicked, this, [this](QListWidgetItem* it) {
        int idx = gallery_->row(it);
        if (model_.heads <= 0) return;
        explain_tab_->showHead(idx / model_.heads, idx % model_.heads);
    });
    auto* gdock = new QDockWidget(tr("Head gallery (click to select a layer and head)"), this);
    gdock->setObjectName("galleryDock");
    gdock->setWidget(gallery_);
    gdock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    addDockWidget(Qt::BottomDockWidgetArea, gdock);
    resizeDocks({gdock}, {150}, Qt::Vertical);
    resizeDocks({dock}, {380}, Qt::Horizontal);
}

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open Image..."), QKeySequence::Open, this, [this] {
        QString p = QFileDialog::getOpenFileName(this, tr("Open image"), folder_,
                                                 tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.ppm *.pgm)"));
        if (!p.isEmpty()) openImage(p);
    });
    file->addAction(tr("Open &Folder..."), QKeySequence(tr("Ctrl+Shift+O")), this, [this] {
        QString d = QFileDialog::getExistingDirectory(this, tr("Open folder"), folder_);
        if (!d.isEmpty()) openFolder(d);
    });
    recent_menu_ = new RecentMenu(tr("Open &Recent"), file);
    file->addMenu(recent_menu_);
    connect(recent_menu_, &RecentMenu::chosen, this, &MainWindow::openImage);
    file->addAction(tr("&Paste Image"), QKeySequence::Paste, this, &MainWindow::paste);
    file->addSeparator();
    file->addAction(tr("&Save Snapshot..."), QKeySequence::Save, this, &MainWindow::saveSnapshot);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    QMenu* model = menuBar()->addMenu(tr("&Model"));
    model->addAction(tr("&Open Model..."), QKeySequence(tr("Ctrl+M")), this, [this] {
        QString d = QFileDialog::getExistingDirectory(this, tr("Open checkpoint directory (config.json + model.safetensors)"),
                                                      QSettings().value("model").toString());
        if (!d.isEmpty()) openModel(d);
    });
    model->addAction(tr("Open from the &Hub..."), QKeySequence(tr("Ctrl+Shift+M")), this, [this] {
        const QString id = HubDialog::askId(this);
        if (!id.isEmpty()) openFromHub(id);
    });
    model->addAction(tr("Model &Info..."), QKeySequence(tr("Ctrl+I")), this, &MainWindow::showModelInfo);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(tr("Zoom &In"), QKeySequence::ZoomIn, this, [this] { view_->zoomBy(1.25); });
    view->addAction(tr("Zoom &Out"), QKeySequence::ZoomOut, this, [this] { view_->zoomBy(0.8); });
    view->addAction(tr("&Fit"), QKeySequence(tr("Ctrl+0")), this, [this] { view_->fit(); });
    view->addAction(tr("Toggle &Overlay"), QKeySequence(tr("O")), this, [this] { explain_tab_->toggleOverlay(); });
    view->addAction(tr("&Rollout"), QKeySequence(tr("R")), this, [this] { explain_tab_->setMethod("rollout"); });
    view->addAction(tr("&Attention"), QKeySequence(tr("A")), this, [this] { explain_tab_->setMethod("attention"); });
    view->addAction(tr("Patch &Features (PCA)"), QKeySequence(tr("F")), this, [this] { explain_tab_->toggleFeatures(); });

    QMenu* live = menuBar()->addMenu(tr("&Live"));
    live->addAction(tr("Start / &Stop"), QKeySequence(tr("F5")), this, &MainWindow::toggleLive);
}

void MainWindow::openModel(const QString& dir) {
    statusBar()->showMessage(tr("Loading model %1 ...").arg(dir));
    emit requestLoadModel(dir);
}

void MainWindow::openFromHub(const QString& id) {
    if (hub_dialog_ && hub_dialog_->isVisible()) {  // one download at a time: the dialog is its Cancel
        showError(tr("A download is running; cancel it or wait before opening %1").arg(id));
        return;
    }
    QSettings().setValue("hubModel", id);
    pull_ticket_ = worker_->newJob();
    if (!hub_dialog_) {
        hub_dialog_ = new HubDialog(this);
        connect(hub_dialog_, &QProgressDialog::canceled, this, [this] {
            worker_->requestStop(pull_ticket_);
            statusBar()->showMessage(tr("Cancelling the download ..."));
        });
    }
    hub_dialog_->startDownload(id);
    statusBar()->showMessage(tr("Downloading %1 ...").arg(id));
    emit requestPull(id, pull_ticket_);
}

void MainWindow::openImage(const QString& path) {
    // before a model is ready, the request is queued behind its load on the worker thread
    explain_tab_->showClassifying(path);
    emit requestExplainFile(path);
    recent_menu_->add(path);
}

void MainWindow::openFolder(const QString& dir) {
    setFolder(dir);
    QSettings().setValue("folder", dir);
    const qsizetype n = folder_tab_->showFolder(dir);
    tabs_->setCurrentWidget(folder_tab_);
    statusBar()->showMessage(tr("%1 images in %2 (arrow keys step through them)").arg(n).arg(dir), 8000);
    if (n > 0) folder_tab_->selectFirst();
}

void MainWindow::setFolder(const QString& dir) {
    folder_ = dir;
    folder_tab_->setStartDir(dir);
    live_tab_->setStartDir(dir);
}

void MainWindow::startLive(const QString& source) {
    if (live_ || source.trimmed().isEmpty()) return;
    QString record;
    if (live_tab_->recording()) {
        record = QFileDialog::getSaveFileName(this, tr("Record to"), folder_ + "/vitlens-live.avi", tr("AVI (*.avi)"));
        if (record.isEmpty()) return;
    }
    clearError();
    setLive(true);
    tabs_->setCurrentWidget(live_tab_);
    live_ticket_ = worker_->newJob();
    emit requestLive(source.trimmed(), explain_tab_->showsFeatures() ? "features" : "rollout", record, live_ticket_);
}

void MainWindow::stopLive() {
    if (live_) worker_->requestStop(live_ticket_);
}

void MainWindow::toggleLive() { live_ ? stopLive() : startLive(live_tab_->source()); }

// While live runs the explain tab asks for no maps and the button offers Stop.
void MainWindow::setLive(bool on) {
    live_ = on;
    explain_tab_->setLive(on);
    live_tab_->setRunning(on);
}

void MainWindow::setScreenshot(const QString& path, const QString& method, std::optional<std::pair<int, int>> query) {
    screenshot_->start(path);
    explain_tab_->preset(method, query);
}

void MainWindow::onModelLoaded(const ModelInfo& info) {
    model_ = info;
    model_ready_ = true;
    clearError();
    QSettings().setValue("model", info.dir);
    model_status_->setText(QFileInfo(info.dir).fileName() + QString("  (%1 layers, %2 heads, %3x%4 patches)")
                                                             .arg(info.layers).arg(info.heads).arg(info.grid_w).arg(info.grid_h));
    const std::optional<std::pair<int, int>> dropped = explain_tab_->setModel(info);
    statusBar()->showMessage(tr("Model loaded: %1").arg(info.dir), 5000);
    if (dropped && screenshot_->armed()) {  // a --query the user typed: say so (the screenshot run exits 1)
        const auto q = *dropped;
        showError(tr("--query %1,%2 is outside the %3x%4 patch grid of this model")
                      .arg(q.first).arg(q.second).arg(info.grid_h).arg(info.grid_w));
    }
}

void MainWindow::onModelFailed(const QString& message) {
    if (hub_dialog_) hub_dialog_->hide();
    showError(tr("Cannot load model: %1").arg(message) + (model_ready_ ? tr(" (keeping %1)").arg(model_.dir) : QString()));
}

void MainWindow::onImageExplained(const ImageResult& r) {
    clearError();
    view_->setImage(r.image, r.geometry, model_.grid_h, model_.grid_w);
    explain_tab_->showPredictions(r);
    norms_tab_->showNorms(r);
    explain_tab_->updateMap();
    emit requestGallery(explain_tab_->colormap());
    emit imageShown();
}

void MainWindow::onImageFailed(const QString& message) {
    explain_tab_->showNoImage();
    showError(message);
    screenshot_->imageFailed(message);
}

void MainWindow::onMapReady(const MapResult& r) {
    view_->setHeat(r.heat);
    emit mapShown();
    screenshot_->mapShown();
}

void MainWindow::onGalleryReady(const QList<QImage>& tiles, const QStringList& labels) {
    gallery_->clear();
    for (int i = 0; i < tiles.size(); ++i) gallery_->addItem(new QListWidgetItem(QIcon(QPixmap::fromImage(tiles[i])), labels[i]));
    screenshot_->galleryShown();
}

void MainWindow::onLiveFrame(const QImage& annotated, const QString& top, double fps, double latency, qint64 dropped,
                             qint64 frame) {
    view_->setFrame(annotated);
    live_tab_->showTop(top);
    fps_label_->setText(QString("%1 FPS | latency %2 ms | dropped %3 | frame %4")
                            .arg(fps, 0, 'f', 1).arg(latency, 0, 'f', 0).arg(dropped).arg(frame));
    worker_->liveFrameShown();
}

void MainWindow::onLiveStopped(const QString& summary, const QString& error) {
    setLive(false);
    if (!error.isEmpty()) showError(tr("Live source: %1").arg(error));
    statusBar()->showMessage(tr("Live stopped: %1").arg(summary), 10000);
}

void MainWindow::showError(const QString& message) {
    last_error_ = message;
    error_banner_->setText(message);
    error_banner_->show();
    statusBar()->showMessage(message, 10000);
    emit errorShown(message);
}

void MainWindow::clearError() { error_banner_->hide(); }

void MainWindow::paste() {
    const QMimeData* m = QApplication::clipboard()->mimeData();
    if (m && m->hasImage()) {
        emit requestExplainImage(qvariant_cast<QImage>(m->imageData()), "clipboard");
    } else if (m && m->hasUrls() && !m->urls().isEmpty()) {
        openImage(m->urls().first().toLocalFile());
    } else {
        showError(tr("The clipboard holds no image"));
    }
}

void MainWindow::saveSnapshot() {
    if (!view_->hasImage()) return;
    QString p = QFileDialog::getSaveFileName(this, tr("Save snapshot"), folder_ + "/vitlens-snapshot.png", "PNG (*.png)");
    if (p.isEmpty()) return;
    if (!save_png(view_->grab(), p)) showError(tr("Cannot write %1").arg(p));
    else statusBar()->showMessage(tr("Saved %1").arg(p), 5000);
}

void MainWindow::showModelInfo() {
    ModelInfoDialog d(model_ready_ ? model_.text : tr("No model loaded"), this);
    d.exec();
}

bool MainWindow::exportCsv(const QString& path) { return folder_tab_->exportCsv(path); }

bool MainWindow::exportJson(const QString& path) { return folder_tab_->exportJson(path); }

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
    if (e->mimeData()->hasUrls() || e->mimeData()->hasImage()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
    const QMimeData* m = e->mimeData();
    if (m->hasUrls()) {
        QString p = m->urls().first().toLocalFile();
        if (QFileInfo(p).isDir()) openFolder(p);
        else openImage(p);
    } else if (m->hasImage()) {
        emit requestExplainImage(qvariant_cast<QImage>(m->imageData()), "dropped image");
    }
}

// The arrow keys step through the folder's images.
void MainWindow::keyPressEvent(QKeyEvent* e) {
    if ((e->key() == Qt::Key_Right || e->key() == Qt::Key_Down) && folder_tab_->step(+1)) return;
    if ((e->key() == Qt::Key_Left || e->key() == Qt::Key_Up) && folder_tab_->step(-1)) return;
    QMainWindow::keyPressEvent(e);
}

void MainWindow::closeEvent(QCloseEvent* e) {
    QSettings().setValue("geometry", saveGeometry());
    worker_->requestStopAll();
    QMainWindow::closeEvent(e);
}

}  // namespace vitlens::gui
