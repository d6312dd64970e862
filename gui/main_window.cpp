#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDirIterator>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QListWidget>
#include <QInputDialog>
#include <QLineEdit>
#include <QMenuBar>
#include <QProgressDialog>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSaveFile>
#include <cstdlib>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextStream>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

#include "vitlens/hub_download.h"
#include "vitlens/classifier.h"
#include "vitlens/datasets.h"

namespace vitlens::gui {

namespace {

QString csv(const QString& s) {
    if (!s.contains(',') && !s.contains('"') && !s.contains('\n')) return s;
    QString o = s;
    o.replace("\"", "\"\"");
    return "\"" + o + "\"";
}

bool is_image(const QString& p) { return has_image_extension(p.toStdString()); }

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle("vitlens");
    setAcceptDrops(true);
    worker_ = new InferenceWorker;
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(this, &MainWindow::requestLoadModel, worker_, &InferenceWorker::loadModel);
    connect(this, &MainWindow::requestPull, worker_, &InferenceWorker::pullModel);
    connect(worker_, &InferenceWorker::pullProgress, this,
            [this](const QString& file, qint64 done, qint64 total, int index, int count) {
                if (!pull_dialog_) return;
                pull_dialog_->setLabelText(tr("Downloading %1 (file %2 of %3): %4 of %5 MB")
                                               .arg(file).arg(index).arg(count)
                                               .arg(done / 1e6, 0, 'f', 1).arg(total / 1e6, 0, 'f', 1));
                pull_dialog_->setValue(total > 0 ? int(1000.0 * double(done) / double(total)) : 0);
            });
    connect(worker_, &InferenceWorker::pullFinished, this, [this](const QString& snapshot) {
        if (pull_dialog_) pull_dialog_->hide();  // hide(), not close(): closing a progress dialog cancels
        statusBar()->showMessage(tr("Downloaded to %1; loading ...").arg(snapshot));
    });
    connect(this, &MainWindow::requestExplainFile, worker_, &InferenceWorker::explainFile);
    connect(this, &MainWindow::requestExplainImage, worker_, &InferenceWorker::explainImage);
    connect(this, &MainWindow::requestMap, worker_, &InferenceWorker::computeMap);
    connect(this, &MainWindow::requestFeatures, worker_, &InferenceWorker::computeFeatures);
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
    connect(worker_, &InferenceWorker::batchRow, this, &MainWindow::onBatchRow);
    connect(worker_, &InferenceWorker::liveFrame, this, &MainWindow::onLiveFrame);
    connect(worker_, &InferenceWorker::liveStopped, this, &MainWindow::onLiveStopped);
    thread_.start();

    buildUi();
    buildMenus();

    QSettings s;
    if (s.contains("geometry")) restoreGeometry(s.value("geometry").toByteArray());
    else resize(1280, 820);
    colormap_->setCurrentText(s.value("colormap", "turbo").toString());
    opacity_->setValue(s.value("opacity", 50).toInt());
    folder_ = s.value("folder").toString();
    connect(worker_, &InferenceWorker::camerasListed, this, [this](const QStringList& cams) {
        QString cur = source_->currentText();
        source_->clear();
        source_->addItems(cams.isEmpty() ? QStringList{"0"} : cams);
        if (!cur.isEmpty()) source_->setCurrentText(cur);
    });
    emit requestCameras();
}

MainWindow::~MainWindow() {
    worker_->requestStopAll();
    thread_.quit();
    thread_.wait();
}

void MainWindow::buildUi() {
    buildCentral();
    tabs_ = new QTabWidget;
    tabs_->addTab(buildExplainTab(), tr("Explain"));
    tabs_->addTab(buildNormsTab(), tr("Token norms"));
    tabs_->addTab(buildFolderTab(), tr("Folder"));
    tabs_->addTab(buildLiveTab(), tr("Live"));
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
    connect(view_, &ImageView::patchClicked, this, &MainWindow::onPatchClicked);

}

// Image name, top-5 predictions and the attention controls.
QWidget* MainWindow::buildExplainTab() {
    auto* explain = new QWidget;
    auto* ev = new QVBoxLayout(explain);
    image_label_ = new QLabel(tr("No image"));
    image_label_->setWordWrap(true);
    ev->addWidget(image_label_);
    ev->addWidget(buildPredictionsBox());
    ev->addWidget(buildAttentionControls());
    ev->addStretch(1);
    return explain;
}

QWidget* MainWindow::buildPredictionsBox() {
    auto* preds = new QGroupBox(tr("Top 5"));
    auto* pl = new QGridLayout(preds);
    for (int i = 0; i < 5; ++i) {
        auto* l = new QLabel("");
        l->setObjectName(QString("topLabel%1").arg(i));
        auto* b = new QProgressBar;
        b->setObjectName(QString("topBar%1").arg(i));
        b->setRange(0, 1000);
        b->setValue(0);
        b->setFormat("");
        b->setTextVisible(true);
        b->setMaximumHeight(16);
        pl->addWidget(l, i, 0);
        pl->addWidget(b, i, 1);
        top_labels_.push_back(l);
        top_bars_.push_back(b);
        for (QWidget* w : {static_cast<QWidget*>(l), static_cast<QWidget*>(b)}) {
            w->installEventFilter(this);
            w->setCursor(Qt::PointingHandCursor);
            w->setToolTip(tr("Click: why this class? (attribution map)"));
        }
    }
    pl->setColumnStretch(1, 1);

    return preds;
}

QWidget* MainWindow::buildAttentionControls() {
    auto* ctrl = new QGroupBox(tr("Attention"));
    auto* f = new QFormLayout(ctrl);
    method_ = new QComboBox;
    method_->setObjectName("methodCombo");
    for (const auto& name : map_method_names()) method_->addItem(QString::fromStdString(name));
    method_->setToolTip(tr("rollout: attention flow through all layers; attention: one layer's class-token row;\n"
                           "query: where the clicked patch looks; attribution: why the class of the selected\n"
                           "top-5 row (click a row), attention weighted by the gradient of its logit"));
    layer_ = new QSpinBox;
    layer_->setObjectName("layerSpin");
    layer_->setRange(0, 0);
    head_ = new QComboBox;
    head_->setObjectName("headCombo");
    fusion_ = new QComboBox;
    fusion_->setObjectName("fusionCombo");
    fusion_->addItems({"mean", "max", "min"});
    discard_ = new QSlider(Qt::Horizontal);
    discard_->setObjectName("discardSlider");
    discard_->setRange(0, 95);
    discard_->setToolTip(tr("Rollout: zero the lowest fraction of each layer's attention"));
    colormap_ = new QComboBox;
    colormap_->setObjectName("colormapCombo");
    colormap_->addItems({"turbo", "jet", "inferno", "viridis"});
    opacity_ = new QSlider(Qt::Horizontal);
    opacity_->setObjectName("opacitySlider");
    opacity_->setRange(0, 100);
    overlay_ = new QCheckBox(tr("Show overlay (O)"));
    overlay_->setObjectName("overlayCheck");
    overlay_->setChecked(true);
    clip_ = new QCheckBox(tr("Clip outlier tokens (99th percentile)"));
    pca_ = new QCheckBox(tr("Patch features (PCA) (F)"));
    pca_->setObjectName("pcaCheck");
    pca_->setToolTip(tr("The first three principal components of the last layer's patch tokens as red, green and\n"
                        "blue: patches the model represents alike share a colour (the DINOv2 feature view)"));
    query_label_ = new QLabel(tr("Click a patch to see where it looks."));
    query_label_->setObjectName("mapCaption");
    query_label_->setWordWrap(true);
    f->addRow(tr("Method"), method_);
    f->addRow(tr("Layer"), layer_);
    f->addRow(tr("Head"), head_);
    f->addRow(tr("Head fusion"), fusion_);
    f->addRow(tr("Discard ratio"), discard_);
    f->addRow(tr("Colour map"), colormap_);
    f->addRow(tr("Opacity"), opacity_);
    f->addRow(overlay_);
    f->addRow(clip_);
    f->addRow(pca_);
    f->addRow(query_label_);
    connectAttentionControls();
    return ctrl;
}

// Every control of the attention box redraws the map; colours and opacity are remembered.
void MainWindow::connectAttentionControls() {
    connect(pca_, &QCheckBox::toggled, this, &MainWindow::updateMap);
    for (auto* c : {method_, head_, fusion_, colormap_})
        connect(c, &QComboBox::currentIndexChanged, this, &MainWindow::updateMap);
    connect(layer_, &QSpinBox::valueChanged, this, &MainWindow::updateMap);
    connect(discard_, &QSlider::valueChanged, this, &MainWindow::updateMap);
    connect(clip_, &QCheckBox::toggled, this, &MainWindow::updateMap);
    connect(colormap_, &QComboBox::currentTextChanged, this, [this](const QString& c) {
        QSettings().setValue("colormap", c);
        if (has_image_) emit requestGallery(c);
    });
    connect(opacity_, &QSlider::valueChanged, this, [this](int v) {
        view_->setOpacity(v / 100.0);
        QSettings().setValue("opacity", v);
    });
    connect(overlay_, &QCheckBox::toggled, view_, &ImageView::setOverlayVisible);
}

QWidget* MainWindow::buildNormsTab() {
    norms_ = new QTreeWidget;
    norms_->setObjectName("normsTree");
    norms_->setHeaderLabels({tr("Layer"), tr("Median"), tr("Max"), tr("Outlier tokens (> 3x median)")});

    return norms_;
}

// The folder's files, "Classify all" with its table, and the exports.
QWidget* MainWindow::buildFolderTab() {
    auto* folder = new QWidget;
    auto* fv = new QVBoxLayout(folder);
    files_ = new QListWidget;
    files_->setObjectName("fileList");
    connect(files_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0) openImage(files_->item(row)->data(Qt::UserRole).toString());
    });
    classify_all_ = new QPushButton(tr("Classify all"));
    classify_all_->setObjectName("classifyAll");
    batch_progress_ = new QProgressBar;
    batch_progress_->setObjectName("batchProgress");
    table_ = new QTableWidget(0, 4);
    table_->setObjectName("batchTable");
    table_->setHorizontalHeaderLabels({tr("Image"), tr("Label"), tr("Probability"), tr("Error")});
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->setSortingEnabled(true);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    auto* exp = new QHBoxLayout;
    auto* csvb = new QPushButton(tr("Export CSV"));
    auto* jsonb = new QPushButton(tr("Export JSON"));
    exp->addWidget(csvb);
    exp->addWidget(jsonb);
    fv->addWidget(files_, 2);
    fv->addWidget(classify_all_);
    fv->addWidget(batch_progress_);
    fv->addWidget(table_, 3);
    fv->addLayout(exp);
    connect(classify_all_, &QPushButton::clicked, this, [this] {
        QStringList paths;
        for (int i = 0; i < files_->count(); ++i) paths << files_->item(i)->data(Qt::UserRole).toString();
        if (paths.isEmpty()) return;
        table_->setSortingEnabled(false);
        table_->setRowCount(0);
        batch_progress_->setRange(0, static_cast<int>(paths.size()));
        batch_progress_->setValue(0);
        emit requestBatch(paths, worker_->newJob());
    });
    connect(worker_, &InferenceWorker::batchProgress, batch_progress_, &QProgressBar::setValue);
    connect(worker_, &InferenceWorker::batchFinished, this, [this] {
        table_->setSortingEnabled(true);
        statusBar()->showMessage(tr("Classified %1 images").arg(table_->rowCount()), 5000);
    });
    connect(csvb, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getSaveFileName(this, tr("Export CSV"), folder_ + "/vitlens.csv", "CSV (*.csv)");
        if (!p.isEmpty() && !exportCsv(p)) showError(tr("Cannot write %1").arg(p));
    });
    connect(jsonb, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getSaveFileName(this, tr("Export JSON"), folder_ + "/vitlens.json", "JSON (*.json)");
        if (!p.isEmpty() && !exportJson(p)) showError(tr("Cannot write %1").arg(p));
    });

    return folder;
}

// Source, record, start/stop and the live top-k.
QWidget* MainWindow::buildLiveTab() {
    auto* live = new QWidget;
    auto* lv = new QVBoxLayout(live);
    source_ = new QComboBox;
    source_->setObjectName("sourceCombo");
    source_->setEditable(true);
    source_->setToolTip(tr("Camera (0, /dev/video2), video file, rtsp:// or http:// URL, or a GStreamer pipeline ending in appsink"));
    auto* browse = new QPushButton(tr("Video file..."));
    auto* refresh = new QPushButton(tr("Find cameras"));
    live_button_ = new QPushButton(tr("Start (F5)"));
    live_button_->setObjectName("liveButton");
    record_ = new QCheckBox(tr("Record annotated video..."));
    live_top_ = new QLabel;
    live_top_->setObjectName("liveTop");
    auto* row = new QHBoxLayout;
    row->addWidget(browse);
    row->addWidget(refresh);
    lv->addWidget(new QLabel(tr("Source")));
    lv->addWidget(source_);
    lv->addLayout(row);
    lv->addWidget(record_);
    lv->addWidget(live_button_);
    lv->addWidget(live_top_);
    lv->addStretch(1);
    connect(browse, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getOpenFileName(this, tr("Video file"), folder_, tr("Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)"));
        if (!p.isEmpty()) source_->setCurrentText(p);
    });
    connect(refresh, &QPushButton::clicked, this, [this] { emit requestCameras(); });
    connect(live_button_, &QPushButton::clicked, this, [this] { live_ ? stopLive() : startLive(source_->currentText()); });

    return live;
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
        QSignalBlocker b1(method_), b2(layer_), b3(head_);
        method_->setCurrentText("attention");
        layer_->setValue(idx / model_.heads);
        head_->setCurrentIndex(1 + idx % model_.heads);
        updateMap();
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
    recent_menu_ = file->addMenu(tr("Open &Recent"));
    rebuildRecentMenu();
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
        bool ok = false;
        const QString id = QInputDialog::getText(
            this, tr("Open from the Hugging Face Hub"),
            tr("Model id, ORG/NAME[@REVISION] (e.g. facebook/dinov2-small). It is downloaded into the\n"
               "Hugging Face cache (HF_HUB_CACHE), shared with Python; HF_TOKEN opens gated models."),
            QLineEdit::Normal, QSettings().value("hubModel").toString(), &ok);
        if (ok && !id.trimmed().isEmpty()) openFromHub(id.trimmed());
    });
    model->addAction(tr("Model &Info..."), QKeySequence(tr("Ctrl+I")), this, &MainWindow::showModelInfo);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(tr("Zoom &In"), QKeySequence::ZoomIn, this, [this] { view_->zoomBy(1.25); });
    view->addAction(tr("Zoom &Out"), QKeySequence::ZoomOut, this, [this] { view_->zoomBy(0.8); });
    view->addAction(tr("&Fit"), QKeySequence(tr("Ctrl+0")), this, [this] { view_->fit(); });
    view->addAction(tr("Toggle &Overlay"), QKeySequence(tr("O")), this, [this] { overlay_->toggle(); });
    view->addAction(tr("&Rollout"), QKeySequence(tr("R")), this, [this] { method_->setCurrentText("rollout"); });
    view->addAction(tr("&Attention"), QKeySequence(tr("A")), this, [this] { method_->setCurrentText("attention"); });
    view->addAction(tr("Patch &Features (PCA)"), QKeySequence(tr("F")), this, [this] { pca_->toggle(); });

    QMenu* live = menuBar()->addMenu(tr("&Live"));
    live->addAction(tr("Start / &Stop"), QKeySequence(tr("F5")), this,
                    [this] { live_ ? stopLive() : startLive(source_->currentText()); });
}

void MainWindow::openModel(const QString& dir) {
    statusBar()->showMessage(tr("Loading model %1 ...").arg(dir));
    emit requestLoadModel(dir);
}

void MainWindow::openFromHub(const QString& id) {
    if (pull_dialog_ && pull_dialog_->isVisible()) {  // one download at a time: the dialog is its Cancel
        showError(tr("A download is running; cancel it or wait before opening %1").arg(id));
        return;
    }
    QSettings().setValue("hubModel", id);
    const qint64 ticket = worker_->newJob();
    if (!pull_dialog_) {
        pull_dialog_ = new QProgressDialog(this);
        pull_dialog_->setObjectName("pullDialog");
        pull_dialog_->setWindowTitle(tr("Open from the Hub"));
        pull_dialog_->setRange(0, 1000);
        pull_dialog_->setMinimumDuration(0);
        pull_dialog_->setAutoClose(false);
        pull_dialog_->setAutoReset(false);
    }
    pull_dialog_->disconnect(this);
    connect(pull_dialog_, &QProgressDialog::canceled, this, [this, ticket] {
        worker_->requestStop(ticket);
        statusBar()->showMessage(tr("Cancelling the download ..."));
    });
    // the endpoint as typed in HF_ENDPOINT, credentials hidden; the worker reports a bad setting
    const char* endpoint = std::getenv("HF_ENDPOINT");
    const std::string shown = redact(endpoint && *endpoint ? endpoint : "https://huggingface.co");
    pull_dialog_->setLabelText(tr("Asking %1 for %2 ...").arg(QString::fromStdString(shown), id));
    pull_dialog_->setValue(0);
    pull_dialog_->show();
    statusBar()->showMessage(tr("Downloading %1 ...").arg(id));
    emit requestPull(id, ticket);
}

void MainWindow::openImage(const QString& path) {
    if (!model_ready_) {
        // queued behind the model load on the worker thread
    }
    image_label_->setText(tr("Classifying %1 ...").arg(path));
    emit requestExplainFile(path);
    addRecent(path);
}

void MainWindow::openFolder(const QString& dir) {
    folder_ = dir;
    QSettings().setValue("folder", dir);
    files_->clear();
    QStringList paths;
    QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        QString p = it.next();
        if (is_image(p)) paths << p;
    }
    paths.sort();
    {
        QSignalBlocker b(files_);
        for (const QString& p : paths) {
            auto* item = new QListWidgetItem(QDir(dir).relativeFilePath(p));
            item->setData(Qt::UserRole, p);
            files_->addItem(item);
        }
    }
    tabs_->setCurrentIndex(2);
    statusBar()->showMessage(tr("%1 images in %2 (arrow keys step through them)").arg(paths.size()).arg(dir), 8000);
    if (!paths.isEmpty()) files_->setCurrentRow(0);
}

void MainWindow::startLive(const QString& source) {
    if (live_ || source.trimmed().isEmpty()) return;
    QString record;
    if (record_->isChecked()) {
        record = QFileDialog::getSaveFileName(this, tr("Record to"), folder_ + "/vitlens-live.avi", tr("AVI (*.avi)"));
        if (record.isEmpty()) return;
    }
    clearError();
    live_ = true;
    live_button_->setText(tr("Stop (F5)"));
    tabs_->setCurrentIndex(3);
    live_ticket_ = worker_->newJob();
    emit requestLive(source.trimmed(), pca_->isChecked() ? "features" : "rollout", record, live_ticket_);
}

void MainWindow::stopLive() {
    if (live_) worker_->requestStop(live_ticket_);
}

void MainWindow::setScreenshot(const QString& path, const QString& method, std::optional<std::pair<int, int>> query) {
    screenshot_path_ = path;
    screenshot_query_ = query;
    if (query) {
        query_ = query;
        method_->setCurrentText("query");
    } else if (!method.isEmpty()) {
        method_->setCurrentText(method);
    }
}

void MainWindow::maybeFinishScreenshot() {
    if (screenshot_path_.isEmpty() || !screenshot_map_ || !screenshot_gallery_) return;
    QString path = screenshot_path_;
    screenshot_path_.clear();
    // Let the layout and paint settle, then grab the whole window.
    QTimer::singleShot(300, this, [this, path] {
        bool ok = saveWhole(grab(), path);
        if (!ok) fprintf(stderr, "vitlens-gui: cannot write screenshot %s\n", qPrintable(path));
        else fprintf(stderr, "vitlens-gui: screenshot -> %s\n", qPrintable(path));
        QApplication::exit(ok ? 0 : 1);
    });
}

void MainWindow::onModelLoaded(const ModelInfo& info) {
    model_ = info;
    model_ready_ = true;
    clearError();
    QSettings().setValue("model", info.dir);
    model_status_->setText(QFileInfo(info.dir).fileName() + QString("  (%1 layers, %2 heads, %3x%4 patches)")
                                                             .arg(info.layers).arg(info.heads).arg(info.grid_w).arg(info.grid_h));
    QSignalBlocker b1(layer_), b2(head_);
    layer_->setRange(0, std::max(0, info.layers - 1));
    layer_->setValue(info.layers - 1);
    head_->clear();
    head_->addItem(tr("all heads (fused)"));
    for (int h = 0; h < info.heads; ++h) head_->addItem(tr("head %1").arg(h));
    statusBar()->showMessage(tr("Model loaded: %1").arg(info.dir), 5000);
    if (query_ && (query_->first >= info.grid_h || query_->second >= info.grid_w)) {
        const auto q = *query_;
        query_.reset();
        if (!screenshot_path_.isEmpty())  // a --query the user typed: say so (the screenshot run exits 1)
            showError(tr("--query %1,%2 is outside the %3x%4 patch grid of this model")
                          .arg(q.first).arg(q.second).arg(info.grid_h).arg(info.grid_w));
    }
}

void MainWindow::onModelFailed(const QString& message) {
    if (pull_dialog_) pull_dialog_->hide();
    showError(tr("Cannot load model: %1").arg(message) + (model_ready_ ? tr(" (keeping %1)").arg(model_.dir) : QString()));
}

void MainWindow::onImageExplained(const ImageResult& r) {
    clearError();
    has_image_ = true;
    view_->setImage(r.image, r.geometry, model_.grid_h, model_.grid_w);
    image_label_->setText(QString("<b>%1</b><br>%2x%3").arg(QFileInfo(r.source).fileName().toHtmlEscaped()).arg(r.image.width()).arg(r.image.height()));
    top_indices_.clear();
    for (const TopEntry& t : r.top) top_indices_.push_back(t.index);
    explained_row_.reset();
    for (size_t i = 0; i < top_labels_.size(); ++i) {
        if (i < r.top.size()) {
            top_labels_[i]->setText(QString::fromStdString(r.top[i].label));
            top_bars_[i]->setValue(static_cast<int>(r.top[i].prob * 1000));
            top_bars_[i]->setFormat(QString("%1%").arg(100.0 * r.top[i].prob, 0, 'f', 1));
        } else {
            top_labels_[i]->setText("");
            top_bars_[i]->setValue(0);
            top_bars_[i]->setFormat("");
        }
    }
    norms_->clear();
    for (size_t l = 0; l < r.norms.size(); ++l) {
        QStringList toks;
        for (int t : r.norms[l].outliers)
            toks << QString::fromStdString(token_label(t, TokenLayout{r.n_prefix, 0, r.grid_w}));
        auto* it = new QTreeWidgetItem({QString::number(l), QString::number(r.norms[l].median, 'f', 2),
                                        QString::number(r.norms[l].max, 'f', 2), toks.isEmpty() ? "-" : toks.join(" ")});
        if (!toks.isEmpty()) it->setForeground(3, QColor(220, 90, 40));
        norms_->addTopLevelItem(it);
    }
    if (currentMethod() == MapMethod::Query && !query_) query_ = std::make_pair(model_.grid_h / 2, model_.grid_w / 2);
    updateMap();
    emit requestGallery(colormap_->currentText());
    emit imageShown();
}

void MainWindow::onImageFailed(const QString& message) {
    image_label_->setText(tr("No image"));
    showError(message);
    if (!screenshot_path_.isEmpty()) {
        fprintf(stderr, "vitlens-gui: %s\n", qPrintable(message));
        QApplication::exit(1);
    }
}

MapMethod MainWindow::currentMethod() const { return parse_map_method(method_->currentText().toStdString()); }

MapParams MainWindow::currentParams() const {
    MapParams p;
    p.spec.method = currentMethod();
    p.spec.fusion = parse_fusion(fusion_->currentText().toStdString());
    p.spec.layer = layer_->value();
    p.spec.head = head_->currentIndex() - 1;
    p.spec.discard = discard_->value() / 100.f;
    p.spec.clip_percentile = clip_->isChecked() ? 99.f : 0.f;
    if (query_) {
        p.spec.query_row = query_->first;
        p.spec.query_col = query_->second;
    }
    if (p.spec.method == MapMethod::Attribution && explained_row_ && size_t(*explained_row_) < top_indices_.size())
        p.spec.target_class = top_indices_[size_t(*explained_row_)];
    p.colormap = parse_colormap(colormap_->currentText().toStdString());
    return p;
}

// What the map shows, in words, under the controls.
QString MainWindow::mapCaption() const {
    const MapMethod m = currentMethod();
    if (m == MapMethod::Query && query_)
        return tr("Patch (row %1, col %2): where it looks in layer %3.").arg(query_->first).arg(query_->second).arg(layer_->value());
    if (m == MapMethod::Attribution && !top_indices_.empty()) {
        const int row = explained_row_.value_or(0);
        return tr("Why %1 (class %2): attention weighted by the gradient of its logit. Click another top-5 row "
                  "to explain that class.")
            .arg(top_labels_[size_t(row)]->text(), QString::number(top_indices_[size_t(row)]));
    }
    return tr("Click a patch to see where it looks.");
}

void MainWindow::highlightRow(std::optional<int> row) {
    for (size_t i = 0; i < top_labels_.size(); ++i)
        top_labels_[i]->setStyleSheet(row && int(i) == *row ? "font-weight: bold; background: palette(highlight); "
                                                              "color: palette(highlighted-text);"
                                                            : "");
}

bool MainWindow::eventFilter(QObject* watched, QEvent* e) {
    if (e->type() == QEvent::MouseButtonRelease)
        for (size_t i = 0; i < top_labels_.size(); ++i)
            if (watched == top_labels_[i] || watched == top_bars_[i]) {
                selectClassRow(int(i));
                return true;
            }
    return QMainWindow::eventFilter(watched, e);
}

void MainWindow::selectClassRow(int row) {
    if (!has_image_ || live_ || size_t(row) >= top_indices_.size()) return;
    explained_row_ = row;
    if (currentMethod() != MapMethod::Attribution) {
        QSignalBlocker b(method_);
        method_->setCurrentText("attribution");
    }
    updateMap();
}

void MainWindow::updateMap() {
    if (!has_image_ || live_) return;
    const MapMethod m = currentMethod();
    layer_->setEnabled(m == MapMethod::Attention || m == MapMethod::Query);
    head_->setEnabled(m == MapMethod::Attention || m == MapMethod::Query);
    discard_->setEnabled(m == MapMethod::Rollout);
    fusion_->setEnabled(m != MapMethod::Attribution);
    if (m == MapMethod::Query && !query_) query_ = std::make_pair(model_.grid_h / 2, model_.grid_w / 2);
    view_->setHighlightedPatch(m == MapMethod::Query ? query_ : std::nullopt);
    if (pca_->isChecked()) {
        query_label_->setText(tr("Patch features: the first three principal components of the last layer's patch "
                                 "tokens as red, green and blue; alike patches share a colour."));
        highlightRow(std::nullopt);
        emit requestFeatures();
        return;
    }
    query_label_->setText(mapCaption());
    highlightRow(m == MapMethod::Attribution && !top_indices_.empty() ? std::optional<int>(explained_row_.value_or(0))
                                                                       : std::nullopt);
    emit requestMap(currentParams());
}

void MainWindow::onMapReady(const MapResult& r) {
    view_->setHeat(r.heat);
    emit mapShown();
    screenshot_map_ = true;
    maybeFinishScreenshot();
}

void MainWindow::onGalleryReady(const QList<QImage>& tiles, const QStringList& labels) {
    gallery_->clear();
    for (int i = 0; i < tiles.size(); ++i) gallery_->addItem(new QListWidgetItem(QIcon(QPixmap::fromImage(tiles[i])), labels[i]));
    screenshot_gallery_ = true;
    maybeFinishScreenshot();
}

void MainWindow::onPatchClicked(int row, int col) {
    query_ = std::make_pair(row, col);
    if (currentMethod() != MapMethod::Query) {
        QSignalBlocker b(method_);
        method_->setCurrentText("query");
    }
    updateMap();
}

void MainWindow::onBatchRow(const BatchRow& row) {
    int r = table_->rowCount();
    table_->insertRow(r);
    table_->setItem(r, 0, new QTableWidgetItem(row.path));
    table_->setItem(r, 1, new QTableWidgetItem(row.label));
    auto* p = new QTableWidgetItem;
    if (row.error.isEmpty()) p->setData(Qt::DisplayRole, double(row.prob));
    table_->setItem(r, 2, p);
    table_->setItem(r, 3, new QTableWidgetItem(row.error));
}

void MainWindow::onLiveFrame(const QImage& annotated, const QString& top, double fps, double latency, qint64 dropped,
                             qint64 frame) {
    view_->setFrame(annotated);
    live_top_->setText(top);
    fps_label_->setText(QString("%1 FPS | latency %2 ms | dropped %3 | frame %4")
                            .arg(fps, 0, 'f', 1).arg(latency, 0, 'f', 0).arg(dropped).arg(frame));
    worker_->liveFrameShown();
}

void MainWindow::onLiveStopped(const QString& summary, const QString& error) {
    live_ = false;
    live_button_->setText(tr("Start (F5)"));
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

void MainWindow::addRecent(const QString& path) {
    QSettings s;
    QStringList r = s.value("recent").toStringList();
    r.removeAll(path);
    r.prepend(path);
    while (r.size() > 10) r.removeLast();
    s.setValue("recent", r);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    if (!recent_menu_) return;
    recent_menu_->clear();
    for (const QString& p : QSettings().value("recent").toStringList())
        recent_menu_->addAction(p, this, [this, p] { openImage(p); });
    recent_menu_->setEnabled(!recent_menu_->isEmpty());
}

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

// A PNG written whole or not at all (QSaveFile: a temporary, renamed on commit).
bool MainWindow::saveWhole(const QPixmap& pixmap, const QString& path) {
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return false;
    if (!pixmap.save(&f, "PNG")) {
        f.cancelWriting();
        return false;
    }
    return f.commit();
}

void MainWindow::saveSnapshot() {
    if (!view_->hasImage()) return;
    QString p = QFileDialog::getSaveFileName(this, tr("Save snapshot"), folder_ + "/vitlens-snapshot.png", "PNG (*.png)");
    if (p.isEmpty()) return;
    if (!saveWhole(view_->grab(), p)) showError(tr("Cannot write %1").arg(p));
    else statusBar()->showMessage(tr("Saved %1").arg(p), 5000);
}

void MainWindow::showModelInfo() {
    QDialog d(this);
    d.setWindowTitle(tr("Model info"));
    auto* v = new QVBoxLayout(&d);
    auto* t = new QPlainTextEdit(model_ready_ ? model_.text : tr("No model loaded"));
    t->setReadOnly(true);
    t->setMinimumSize(560, 320);
    v->addWidget(t);
    auto* bb = new QDialogButtonBox(QDialogButtonBox::Close);
    connect(bb, &QDialogButtonBox::rejected, &d, &QDialog::reject);
    v->addWidget(bb);
    d.exec();
}

bool MainWindow::exportCsv(const QString& path) {
    QSaveFile f(path);  // written whole or not at all
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) return false;
    QTextStream s(&f);
    s << "image,label,probability,error\n";
    for (int r = 0; r < table_->rowCount(); ++r) {
        auto txt = [&](int c) { return table_->item(r, c) ? table_->item(r, c)->text() : QString(); };
        s << csv(txt(0)) << "," << csv(txt(1)) << "," << txt(2) << "," << csv(txt(3)) << "\n";
    }
    s.flush();
    return f.commit();
}

bool MainWindow::exportJson(const QString& path) {
    QJsonArray arr;
    for (int r = 0; r < table_->rowCount(); ++r) {
        auto txt = [&](int c) { return table_->item(r, c) ? table_->item(r, c)->text() : QString(); };
        QJsonObject o{{"image", txt(0)}, {"label", txt(1)}};
        if (txt(3).isEmpty()) o["probability"] = txt(2).toDouble();
        else o["error"] = txt(3);
        arr.append(o);
    }
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return false;
    f.write(QJsonDocument(arr).toJson());
    return f.commit();
}

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

void MainWindow::keyPressEvent(QKeyEvent* e) {
    if ((e->key() == Qt::Key_Right || e->key() == Qt::Key_Down) && files_->count() > 0) {
        files_->setCurrentRow(std::min(files_->count() - 1, files_->currentRow() + 1));
        return;
    }
    if ((e->key() == Qt::Key_Left || e->key() == Qt::Key_Up) && files_->count() > 0) {
        files_->setCurrentRow(std::max(0, files_->currentRow() - 1));
        return;
    }
    QMainWindow::keyPressEvent(e);
}

void MainWindow::closeEvent(QCloseEvent* e) {
    QSettings().setValue("geometry", saveGeometry());
    worker_->requestStopAll();
    QMainWindow::closeEvent(e);
}

}  // namespace vitlens::gui
