// The real MainWindow under QT_QPA_PLATFORM=offscreen, driven like a user.
#include <gtest/gtest.h>

#include <QApplication>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableWidget>
#include <QTest>
#include <QTimer>
#include <cstdlib>

#include "main_window.h"
#include "test_support.h"

using namespace vitlens::gui;
using namespace vitlens::test;

namespace {

QString fx(const std::string& rel) { return QString::fromStdString(fixture(rel)); }

// A window with the fixture model loaded.
struct Window {
    MainWindow w;
    Window(const std::string& model = "hf_deit_f32") {
        w.resize(1100, 750);
        w.show();
        QSignalSpy loaded(w.worker(), &InferenceWorker::modelLoaded);
        w.openModel(fx(model));
        EXPECT_TRUE(loaded.wait(10000));
    }
    template <class T>
    T* find(const char* name) {
        return w.findChild<T*>(name);
    }
    bool open(const std::string& img) {
        QSignalSpy map(&w, &MainWindow::mapShown);
        w.openImage(fx("images/" + img));
        return map.wait(10000);
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

TEST(Gui, ChangingLayerChangesTheOverlay) {
    Window t;
    ASSERT_TRUE(t.open("wide.png"));
    auto* method = t.find<QComboBox>("methodCombo");
    auto* layer = t.find<QSpinBox>("layerSpin");
    QSignalSpy map(&t.w, &MainWindow::mapShown);
    method->setCurrentText("attention");
    ASSERT_TRUE(map.wait(5000));
    QImage last = t.w.view()->heat();
    layer->setValue(0);
    ASSERT_TRUE(map.wait(5000));
    EXPECT_NE(t.w.view()->heat(), last);
}

TEST(Gui, ClickingAPatchShowsWhereItLooks) {
    Window t;
    ASSERT_TRUE(t.open("img1.png"));
    QSignalSpy map(&t.w, &MainWindow::mapShown);
    QImage before = t.w.view()->heat();
    QPointF c = t.w.view()->patchRect(1, 2).center();
    QTest::mouseClick(t.w.view(), Qt::LeftButton, Qt::NoModifier, c.toPoint());
    ASSERT_TRUE(map.wait(5000));
    EXPECT_EQ(t.find<QComboBox>("methodCombo")->currentText(), "query");
    ASSERT_TRUE(t.w.view()->highlightedPatch().has_value());
    EXPECT_EQ(*t.w.view()->highlightedPatch(), std::make_pair(1, 2));
    EXPECT_NE(t.w.view()->heat(), before);
}

TEST(Gui, BadImageAndBadModelShowErrorsAndKeepWorking) {
    Window t;
    QSignalSpy err(&t.w, &MainWindow::errorShown);
    TempDir d;
    write_file(d / "bad.png", "this is not a png");
    t.w.openImage(QString::fromStdString(d / "bad.png"));
    ASSERT_TRUE(err.wait(5000));
    EXPECT_TRUE(t.w.lastError().contains("not a decodable image")) << t.w.lastError().toStdString();
    auto* banner = t.find<QLabel>("errorBanner");
    EXPECT_TRUE(banner->isVisible());

    t.w.openModel(QString::fromStdString(d / "no-such-model"));
    ASSERT_TRUE(err.wait(5000));
    EXPECT_TRUE(t.w.lastError().contains("Cannot load model")) << t.w.lastError().toStdString();
    EXPECT_TRUE(t.w.lastError().contains("keeping")) << t.w.lastError().toStdString();
    // the previous model still classifies
    ASSERT_TRUE(t.open("img2.png"));
    EXPECT_FALSE(banner->isVisible());
}

TEST(Gui, LiveModeOnAVideoUpdatesFps) {
    TempDir d;
    std::string v = d / "live.avi";
    ASSERT_EQ(std::system((std::string(VITLENS_MAKE_VIDEO) + " " + v + " --frames 60 --size 320x240 >/dev/null").c_str()), 0);
    Window t;
    QSignalSpy frames(t.w.worker(), &InferenceWorker::liveFrame);
    QSignalSpy stopped(t.w.worker(), &InferenceWorker::liveStopped);
    t.w.startLive(QString::fromStdString(v));
    QElapsedTimer clock;
    clock.start();
    while (frames.count() < 10 && clock.elapsed() < 10000) QTest::qWait(50);
    EXPECT_GE(frames.count(), 10);
    auto* fps = t.find<QLabel>("fpsLabel");
    EXPECT_TRUE(fps->text().contains("FPS")) << fps->text().toStdString();
    ASSERT_TRUE(stopped.wait(10000));  // the file ends
    EXPECT_TRUE(t.w.lastError().isEmpty()) << t.w.lastError().toStdString();
}

TEST(Gui, MissingCameraShowsAMessageAndTheAppKeepsRunning) {
    Window t;
    QSignalSpy err(&t.w, &MainWindow::errorShown);
    t.w.startLive("57");
    ASSERT_TRUE(err.wait(5000));
    EXPECT_TRUE(t.w.lastError().contains("/dev/video57 does not exist")) << t.w.lastError().toStdString();
    ASSERT_TRUE(t.open("img0.png"));
}

TEST(Gui, ClassifyFolderAndExportCsvOneRowPerImage) {
    Window t;
    QSignalSpy done(t.w.worker(), &InferenceWorker::batchFinished);
    t.w.openFolder(fx("images"));
    t.find<QPushButton>("classifyAll")->click();
    ASSERT_TRUE(done.wait(10000));
    auto* table = t.find<QTableWidget>("batchTable");
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

// Inference runs on the worker: the GUI's event loop keeps turning.
TEST(Gui, EventLoopTurnsWhileASlowInferenceRuns) {
    Window t;
    t.w.worker()->setExtraDelayForTesting(1500);
    QSignalSpy shown(&t.w, &MainWindow::imageShown);
    int ticks = 0;
    QTimer timer;
    QObject::connect(&timer, &QTimer::timeout, [&] { ++ticks; });
    timer.start(20);
    QElapsedTimer clock;
    clock.start();
    t.w.openImage(fx("images/img0.png"));
    QTest::qWait(1000);
    EXPECT_EQ(shown.count(), 0);  // still inferring
    EXPECT_GE(ticks, 25);         // ~50 expected at 20 ms
    ASSERT_TRUE(shown.wait(5000));
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
