#include "live_tab.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace vitlens::gui {

LiveTab::LiveTab(QWidget* parent) : QWidget(parent) {
    auto* lv = new QVBoxLayout(this);
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
        QString p = QFileDialog::getOpenFileName(window(), tr("Video file"), start_dir_, tr("Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)"));
        if (!p.isEmpty()) source_->setCurrentText(p);
    });
    connect(refresh, &QPushButton::clicked, this, [this] { emit camerasRequested(); });
    connect(live_button_, &QPushButton::clicked, this, [this] { emit startStopClicked(); });
}

QString LiveTab::source() const { return source_->currentText(); }

bool LiveTab::recording() const { return record_->isChecked(); }

void LiveTab::setRunning(bool on) { live_button_->setText(on ? tr("Stop (F5)") : tr("Start (F5)")); }

void LiveTab::showTop(const QString& top) { live_top_->setText(top); }

void LiveTab::setCameras(const QStringList& cameras) {
    QString cur = source_->currentText();
    source_->clear();
    source_->addItems(cameras.isEmpty() ? QStringList{"0"} : cameras);
    if (!cur.isEmpty()) source_->setCurrentText(cur);
}

}  // namespace vitlens::gui
