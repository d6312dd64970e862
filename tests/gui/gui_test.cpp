// The real MainWindow under QT_QPA_PLATFORM=offscreen, driven like a user.
#include <gtest/gtest.h>

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QProgressDialog>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTest>
#include <QTimer>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <sys/wait.h>
#include <opencv2/videoio.hpp>

#include "main_window.h"
#include "fake_hub.h"
#include "test_support.h"

using namespace vitlens::gui;
using namespace vitlens::test;

namespace {

QString fx(const std::string& rel) { return QString::fromStdString(fixture(rel)); }

// Waits until `spy` has recorded at least `n` signals in all. The worker
// emits from its own thread, so a signal may arrive before anyone waits:
// QSignalSpy::wait() would then wait for one more that never comes.
bool reaches(QSignalSpy& spy, int n, int ms = 10000) {
    return QTest::qWaitFor([&] { return spy.count() >= n; }, ms);
}

// A window with the fixture model loaded.
struct Window {
    MainWindow w;
    Window(const std::string& model = "hf_deit_f32") {
        w.resize(1100, 750);
        w.show();
        QSignalSpy loaded(w.worker(), &InferenceWorker::modelLoaded);
        w.openModel(fx(model));
        EXPECT_TRUE(reaches(loaded, 1));
    }
    template <class T>
    T* find(const char* name) {
        return w.findChild<T*>(name);
    }
    bool open(const std::string& img) {
        QSignalSpy map(&w, &MainWindow::mapShown);
        w.openImage(fx("images/" + img));
        return reaches(map, 1);
    }
};

}  // namespace

TEST(Gui, OpenImageShowsPredictionsWithLabels) {
    Window t;
    ASSERT_TRUE(t.open("img0.png"));
    QStringList labels = {"apple", "bicycle", "cat", "dog", "elephant", "fish", "guitar"};
    for (int i = 0; i < 5; ++i) {
        auto* l = t.find<QLabel>(QString("topLabel%1").arg(i).toUtf8());
        ASSERT_NE(l, nullptr);
        EXPECT_TRUE(labels.contains(l->text())) << l->text().toStdString();
    }
    EXPECT_FALSE(t.w.view()->heat().isNull());
    // the heat image covers the image exactly (an integer multiple of its size for small inputs)
    const QImage& h = t.w.view()->heat();
    const QImage& im = t.w.view()->image();
    EXPECT_EQ(h.width() % im.width(), 0);
    EXPECT_EQ(h.width() / im.width(), h.height() / im.height());
}

// Newest request wins: map requests that queue behind a busy worker collapse
// into the last one sent, which is the one computed and shown.
TEST(Gui, QueuedMapRequestsCollapseIntoTheNewest) {
    Window t;
    ASSERT_TRUE(t.open("img0.png"));
    QSignalSpy ready(t.w.worker(), &InferenceWorker::mapReady);
    std::atomic<bool> drained{false}, release{false};
    auto busy = [&] {  // holds the worker until every request below is queued: no timing involved
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    QMetaObject::invokeMethod(t.w.worker(), busy, Qt::QueuedConnection);
    for (int i = 0; i < 16; ++i) {
        MapParams p;
        p.spec.method = vitlens::MapMethod::Query;
        p.spec.query_row = i / 4;
        p.spec.query_col = i % 4;
        p.ticket = t.w.worker()->newMapTicket();
        emit t.w.requestMap(p);
    }
    QMetaObject::invokeMethod(t.w.worker(), [&] { drained = true; }, Qt::QueuedConnection);  // after all 16
    release = true;
    ASSERT_TRUE(QTest::qWaitFor([&] { return drained.load(); }, 10000));
    ASSERT_EQ(ready.count(), 1);
    const MapResult r = ready.at(0).at(0).value<MapResult>();
    EXPECT_EQ(r.params.spec.query_row, 3);
    EXPECT_EQ(r.params.spec.query_col, 3);
}

TEST(Gui, ChangingLayerChangesTheOverlay) {
    Window t;
    ASSERT_TRUE(t.open("wide.png"));
    auto* method = t.find<QComboBox>("methodCombo");
    auto* layer = t.find<QSpinBox>("layerSpin");
    QSignalSpy map(&t.w, &MainWindow::mapShown);
    method->setCurrentText("attention");
    ASSERT_TRUE(reaches(map, 1));
    QImage last = t.w.view()->heat();
    layer->setValue(0);
    ASSERT_TRUE(reaches(map, 2));
    EXPECT_NE(t.w.view()->heat(), last);
}

TEST(Gui, ClickingAPatchShowsWhereItLooks) {
    Window t;
    ASSERT_TRUE(t.open("img1.png"));
    QSignalSpy map(&t.w, &MainWindow::mapShown);
    QImage before = t.w.view()->heat();
    QPointF c = t.w.view()->patchRect(1, 2).center();
    QTest::mouseClick(t.w.view(), Qt::LeftButton, Qt::NoModifier, c.toPoint());
    ASSERT_TRUE(reaches(map, 1));
    EXPECT_EQ(t.find<QComboBox>("methodCombo")->currentText(), "query");
    ASSERT_TRUE(t.w.view()->highlightedPatch().has_value());
    EXPECT_EQ(*t.w.view()->highlightedPatch(), std::make_pair(1, 2));
    EXPECT_NE(t.w.view()->heat(), before);
}

// "Why this class?": attribution of the top-1 class, then a click on the
// second top-5 row explains that class instead: another map, a caption
// naming it, the row highlighted.
TEST(Gui, ClickingTheSecondClassExplainsIt) {
    Window t;
    ASSERT_TRUE(t.open("img1.png"));
    QSignalSpy map(&t.w, &MainWindow::mapShown);
    t.find<QComboBox>("methodCombo")->setCurrentText("attribution");
    ASSERT_TRUE(reaches(map, 1));
    auto* caption = t.find<QLabel>("mapCaption");
    ASSERT_NE(caption, nullptr);
    const QString first = t.find<QLabel>("topLabel0")->text(), second = t.find<QLabel>("topLabel1")->text();
    EXPECT_TRUE(caption->text().startsWith("Why " + first + " (")) << caption->text().toStdString();
    const QImage before = t.w.view()->heat();
    QTest::mouseClick(t.find<QLabel>("topLabel1"), Qt::LeftButton);
    ASSERT_TRUE(reaches(map, 2));
    EXPECT_TRUE(caption->text().startsWith("Why " + second + " (")) << caption->text().toStdString();
    EXPECT_NE(t.w.view()->heat(), before);
    EXPECT_FALSE(t.find<QLabel>("topLabel1")->styleSheet().isEmpty());
    EXPECT_TRUE(t.find<QLabel>("topLabel0")->styleSheet().isEmpty());
    EXPECT_EQ(t.find<QComboBox>("methodCombo")->currentText(), "attribution");
}

// A DINOv2 backbone: no head, so no predictions; the patch-feature view
// colours the image by the first three principal components, and turning it
// off brings the attention map back.
TEST(Gui, PatchFeaturesOfABackbone) {
    Window t("hf_dinov2_f32");
    ASSERT_TRUE(t.open("img1.png"));
    const QImage map_heat = t.w.view()->heat();
    QSignalSpy shown(&t.w, &MainWindow::mapShown);
    auto* pca = t.find<QCheckBox>("pcaCheck");
    ASSERT_NE(pca, nullptr);
    pca->setChecked(true);
    ASSERT_TRUE(reaches(shown, 1));
    const QImage features = t.w.view()->heat();
    EXPECT_NE(features, map_heat);
    std::set<QRgb> colours;
    for (int y = 0; y < features.height(); y += 7)
        for (int x = 0; x < features.width(); x += 7) colours.insert(features.pixel(x, y));
    EXPECT_GT(colours.size(), 20u) << "a feature view with too few colours";
    EXPECT_TRUE(t.find<QLabel>("mapCaption")->text().startsWith("Patch features")) << t.find<QLabel>("mapCaption")->text().toStdString();
    pca->setChecked(false);
    ASSERT_TRUE(reaches(shown, 2));
    EXPECT_EQ(t.w.view()->heat(), map_heat);
}

// Model > Open from the Hub: the id is pulled from a fake hub on 127.0.0.1
// into the cache with a progress dialog, then loaded and used; a hub that
// never answers is cancelled from the dialog.
TEST(Gui, OpenFromTheHubDownloadsAndLoads) {
    FakeHub hub;
    TempDir cache;
    setenv("HF_ENDPOINT", hub.url().c_str(), 1);
    setenv("HF_HUB_CACHE", (cache / "hub").c_str(), 1);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("HF_TOKEN");
    unsetenv("HF_TOKEN_PATH");
    Window t;
    QSignalSpy loaded(t.w.worker(), &InferenceWorker::modelLoaded);
    QSignalSpy finished(t.w.worker(), &InferenceWorker::pullFinished);
    t.w.openFromHub("org/vit");
    auto* dialog = t.find<QProgressDialog>("pullDialog");
    ASSERT_NE(dialog, nullptr);
    ASSERT_TRUE(reaches(loaded, 1, 30000));
    EXPECT_EQ(finished.count(), 1);
    // the spies count on the worker's thread; the window hides the dialog when its own thread gets there
    EXPECT_TRUE(QTest::qWaitFor([&] { return !dialog->isVisible(); }, 10000));
    EXPECT_TRUE(std::filesystem::exists(cache / ("hub/models--org--vit/snapshots/" + kCommit + "/model.safetensors")));
    EXPECT_EQ(loaded.at(0).at(0).value<ModelInfo>().dir, "org/vit");
    ASSERT_TRUE(t.open("img0.png"));

    SilentServer silent;  // accepts, never answers
    const std::string url = silent.url();
    setenv("HF_ENDPOINT", url.substr(0, url.find('/', 7)).c_str(), 1);
    QSignalSpy failed(t.w.worker(), &InferenceWorker::modelFailed);
    t.w.openFromHub("org/other");
    ASSERT_TRUE(dialog->isVisible());
    QTest::mouseClick(dialog->findChild<QPushButton*>(), Qt::LeftButton);
    ASSERT_TRUE(reaches(failed, 1, 10000));
    EXPECT_TRUE(failed.at(0).at(0).toString().contains("cancelled")) << failed.at(0).at(0).toString().toStdString();
    EXPECT_TRUE(t.w.modelReady());
    unsetenv("HF_ENDPOINT");
    unsetenv("HF_HUB_CACHE");
}

TEST(Gui, BadImageAndBadModelShowErrorsAndKeepWorking) {
    Window t;
    QSignalSpy err(&t.w, &MainWindow::errorShown);
    TempDir d;
    write_file(d / "bad.png", "this is not a png");
    t.w.openImage(QString::fromStdString(d / "bad.png"));
    ASSERT_TRUE(reaches(err, 1));
    EXPECT_TRUE(t.w.lastError().contains("not a decodable image")) << t.w.lastError().toStdString();
    auto* banner = t.find<QLabel>("errorBanner");
    EXPECT_TRUE(banner->isVisible());

    t.w.openModel(QString::fromStdString(d / "no-such-model"));
    ASSERT_TRUE(reaches(err, 2));
    EXPECT_TRUE(t.w.lastError().contains("Cannot load model")) << t.w.lastError().toStdString();
    EXPECT_TRUE(t.w.lastError().contains("keeping")) << t.w.lastError().toStdString();
    // the previous model still classifies
    ASSERT_TRUE(t.open("img2.png"));
    EXPECT_FALSE(banner->isVisible());
}

TEST(Gui, LiveModeOnAVideoUpdatesFps) {
    TempDir d;
    std::string v = d / "live.avi";
    // 5 s at 30 FPS. The worker sends a frame to the window only when the
    // window has shown the previous one (newest frame wins), so how many
    // arrive depends on how busy the machine is: a few, not a number.
    ASSERT_EQ(std::system((std::string(VITLENS_MAKE_VIDEO) + " " + v + " --frames 150 --size 320x240 >/dev/null").c_str()), 0);
    Window t;
    QSignalSpy frames(t.w.worker(), &InferenceWorker::liveFrame);
    QSignalSpy stopped(t.w.worker(), &InferenceWorker::liveStopped);
    t.w.startLive(QString::fromStdString(v));
    EXPECT_TRUE(reaches(frames, 3));
    auto* fps = t.find<QLabel>("fpsLabel");
    EXPECT_TRUE(fps->text().contains("FPS")) << fps->text().toStdString();
    ASSERT_TRUE(reaches(stopped, 1));  // the file ends
    EXPECT_TRUE(t.w.lastError().isEmpty()) << t.w.lastError().toStdString();
}

TEST(Gui, MissingCameraShowsAMessageAndTheAppKeepsRunning) {
    Window t;
    QSignalSpy err(&t.w, &MainWindow::errorShown);
    t.w.startLive("57");
    ASSERT_TRUE(reaches(err, 1));
    EXPECT_TRUE(t.w.lastError().contains("/dev/video57 does not exist")) << t.w.lastError().toStdString();
    ASSERT_TRUE(t.open("img0.png"));
}

TEST(Gui, ClassifyFolderAndExportCsvOneRowPerImage) {
    Window t;
    QSignalSpy done(t.w.worker(), &InferenceWorker::batchFinished);
    t.w.openFolder(fx("images"));
    t.find<QPushButton>("classifyAll")->click();
    ASSERT_TRUE(reaches(done, 1));
    // The spy saw the worker emit; the window adds the rows when its own
    // thread gets the queued signals, and re-enables sorting after the last.
    auto* table = t.find<QTableWidget>("batchTable");
    ASSERT_TRUE(QTest::qWaitFor([&] { return table->isSortingEnabled(); }, 10000));
    EXPECT_EQ(table->rowCount(), 4);
    TempDir d;
    QString csv = QString::fromStdString(d / "out.csv");
    ASSERT_TRUE(t.w.exportCsv(csv));
    QFile f(csv);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    QStringList lines = QString(f.readAll()).split('\n', Qt::SkipEmptyParts);
    EXPECT_EQ(lines.size(), 5);  // header + 4 images
    EXPECT_EQ(lines[0], "image,label,probability,error");
    ASSERT_TRUE(t.w.exportJson(QString::fromStdString(d / "out.json")));
}

// A folder with a file that does not decode: the good images are classified
// (through the CLI's batch loop), the bad one gets a row with its reason.
TEST(Gui, ClassifyFolderReportsABadFileInItsRow) {
    TempDir d;
    for (const char* img : {"img0.png", "img1.png"})
        std::filesystem::copy_file(fixture(std::string("images/") + img), d / img);
    { std::ofstream(d / "broken.png") << "not a png at all"; }
    Window t;
    QSignalSpy done(t.w.worker(), &InferenceWorker::batchFinished);
    t.w.openFolder(QString::fromStdString(d.path()));
    t.find<QPushButton>("classifyAll")->click();
    ASSERT_TRUE(reaches(done, 1));
    auto* table = t.find<QTableWidget>("batchTable");
    ASSERT_TRUE(QTest::qWaitFor([&] { return table->isSortingEnabled(); }, 10000));
    ASSERT_EQ(table->rowCount(), 3);
    const QString csv = QString::fromStdString(d / "out.csv");
    ASSERT_TRUE(t.w.exportCsv(csv));
    QFile f(csv);
    ASSERT_TRUE(f.open(QIODevice::ReadOnly));
    int errors = 0, labelled = 0;
    for (const QString& line : QString(f.readAll()).split('\n', Qt::SkipEmptyParts).mid(1)) {
        if (line.contains("broken.png")) errors += line.contains("not a decodable image") ? 1 : 0;
        else labelled += line.split(',').value(1).isEmpty() ? 0 : 1;
    }
    EXPECT_EQ(errors, 1);
    EXPECT_EQ(labelled, 2);
}

// Stop is tied to the job it was sent for: a live start queued behind
// "Classify all" is stopped before it starts, and the batch is not.
TEST(Gui, StopWhileALiveStartIsQueuedBehindABatch) {
    TempDir d;
    std::string v = d / "live.avi";
    ASSERT_EQ(std::system((std::string(VITLENS_MAKE_VIDEO) + " " + v + " --frames 60 --size 160x120 >/dev/null").c_str()), 0);
    Window t;
    QSignalSpy done(t.w.worker(), &InferenceWorker::batchFinished);
    QSignalSpy rows(t.w.worker(), &InferenceWorker::batchRow);
    QSignalSpy frames(t.w.worker(), &InferenceWorker::liveFrame);
    QSignalSpy stopped(t.w.worker(), &InferenceWorker::liveStopped);
    t.w.worker()->setExtraDelayForTesting(300);  // the batch takes 4 x 0.3 s
    t.w.openFolder(fx("images"));
    t.find<QPushButton>("classifyAll")->click();
    t.w.startLive(QString::fromStdString(v));  // queued behind the batch
    t.w.stopLive();
    ASSERT_TRUE(reaches(stopped, 1));
    ASSERT_TRUE(reaches(done, 1));
    t.w.worker()->setExtraDelayForTesting(0);
    EXPECT_EQ(frames.count(), 0);  // the live job never ran
    EXPECT_EQ(rows.count(), 4);    // the batch was not stopped
    EXPECT_TRUE(t.w.lastError().isEmpty()) << t.w.lastError().toStdString();
}

// A Stop while the source is still opening (a URL that never answers, 5 s
// deadline) ends the live job at once, with no error.
TEST(Gui, StopWhileTheSourceIsOpening) {
    SilentServer srv;
    Window t;
    QSignalSpy stopped(t.w.worker(), &InferenceWorker::liveStopped);
    QElapsedTimer clock;
    clock.start();
    t.w.startLive(QString::fromStdString(srv.url()));
    QTest::qWait(300);
    t.w.stopLive();
    ASSERT_TRUE(reaches(stopped, 1));
    EXPECT_LT(clock.elapsed(), 3000);
    EXPECT_TRUE(stopped.first().at(1).toString().isEmpty()) << stopped.first().at(1).toString().toStdString();
    ASSERT_TRUE(t.open("img0.png"));  // the worker is free again
}

// A recording lands whole: while live runs only a hidden temporary exists;
// when the stream ends the finished video is moved into place.
TEST(Gui, LiveRecordingAppearsOnlyWhenFinished) {
    TempDir d;
    std::string v = d / "live.avi";
    ASSERT_EQ(std::system((std::string(VITLENS_MAKE_VIDEO) + " " + v + " --frames 45 --size 160x120 >/dev/null").c_str()), 0);
    Window t;
    QSignalSpy frames(t.w.worker(), &InferenceWorker::liveFrame);
    QSignalSpy stopped(t.w.worker(), &InferenceWorker::liveStopped);
    const QString rec = QString::fromStdString(d / "rec.avi");
    QMetaObject::invokeMethod(t.w.worker(), "startLive", Qt::QueuedConnection, Q_ARG(QString, QString::fromStdString(v)),
                              Q_ARG(QString, "rollout"), Q_ARG(QString, rec), Q_ARG(qint64, t.w.worker()->newJob()));
    ASSERT_TRUE(reaches(frames, 1));
    if (stopped.count() == 0) EXPECT_FALSE(QFile::exists(rec)) << "the final file exists while recording";
    ASSERT_TRUE(reaches(stopped, 1));
    EXPECT_TRUE(stopped.first().at(1).toString().isEmpty()) << stopped.first().at(1).toString().toStdString();
    cv::VideoCapture cap(rec.toStdString());
    ASSERT_TRUE(cap.isOpened());
    EXPECT_GT(cap.get(cv::CAP_PROP_FRAME_COUNT), 0);
    QDir dir(QString::fromStdString(d.path()));
    EXPECT_TRUE(dir.entryList({".rec.tmp-*"}, QDir::Files | QDir::Hidden).isEmpty());  // no temporary left
}

// vitlens-gui's --query is parsed strictly: a malformed value or a patch
// outside the grid is an error (exit 1), never silently 0,0.
TEST(Gui, ScreenshotQueryIsChecked) {
    TempDir d;
    const std::string base = "QT_QPA_PLATFORM=offscreen " + std::string(VITLENS_GUI_BIN) + " --model " +
                             fixture("hf_vit_f32") + " --screenshot " + (d / "shot.png") + " ";
    auto run = [&](const std::string& q) {
        const std::string cmd = base + "--query '" + q + "' " + fixture("images/img0.png") + " 2>" + (d / "err");
        int st = std::system(cmd.c_str());
        return std::make_pair(WIFEXITED(st) ? WEXITSTATUS(st) : 128, read_file(d / "err"));
    };
    for (const std::string q : {"a,b", "1", "1,2,3", "-1,0"}) {
        auto [code, err] = run(q);
        EXPECT_EQ(code, 1) << q;
        EXPECT_NE(err.find("--query must be ROW,COL (two integers >= 0)"), std::string::npos) << q << ": " << err;
    }
    auto [code, err] = run("9,9");  // the fixture's grid is 4x4
    EXPECT_EQ(code, 1);
    EXPECT_NE(err.find("--query 9,9 is outside the 4x4 patch grid"), std::string::npos) << err;
    auto [ok, err_ok] = run("1,2");
    EXPECT_EQ(ok, 0) << err_ok;
    EXPECT_TRUE(std::filesystem::exists(d / "shot.png"));
}

// Inference runs on the worker: the GUI's event loop keeps turning.
TEST(Gui, EventLoopTurnsWhileASlowInferenceRuns) {
    Window t;
    // 3 s of "inference", looked at after 1 s: a busy host may stretch the 1 s wait a lot
    t.w.worker()->setExtraDelayForTesting(3000);
    QSignalSpy shown(&t.w, &MainWindow::imageShown);
    int ticks = 0;
    QTimer timer;
    QObject::connect(&timer, &QTimer::timeout, [&] { ++ticks; });
    timer.start(20);
    t.w.openImage(fx("images/img0.png"));
    QTest::qWait(1000);
    EXPECT_EQ(shown.count(), 0);  // still inferring
    EXPECT_GE(ticks, 25);         // ~50 expected at 20 ms
    ASSERT_TRUE(reaches(shown, 1));
    t.w.worker()->setExtraDelayForTesting(0);
}

int main(int argc, char** argv) {
    setenv("QT_QPA_PLATFORM", "offscreen", 1);
    vitlens::test::TempDir config;
    setenv("XDG_CONFIG_HOME", config.path().c_str(), 1);  // keep the user's settings untouched
    QApplication app(argc, argv);
    QApplication::setOrganizationName("vitlens-test");
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
