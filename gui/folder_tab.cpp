#include "folder_tab.h"

#include <QAbstractItemView>
#include <QDir>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalBlocker>
#include <QTableWidget>
#include <QVBoxLayout>
#include <algorithm>

#include "vitlens/frontend/image_list.h"

namespace vitlens::gui {

FolderTab::FolderTab(QWidget* parent) : QWidget(parent) {
    auto* fv = new QVBoxLayout(this);
    files_ = new QListWidget;
    files_->setObjectName("fileList");
    connect(files_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row >= 0) emit imageChosen(files_->item(row)->data(Qt::UserRole).toString());
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
    connect(classify_all_, &QPushButton::clicked, this, &FolderTab::classifyAll);
    connect(csvb, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getSaveFileName(window(), tr("Export CSV"), start_dir_ + "/vitlens.csv", "CSV (*.csv)");
        if (!p.isEmpty() && !exportCsv(p)) emit failed(tr("Cannot write %1").arg(p));
    });
    connect(jsonb, &QPushButton::clicked, this, [this] {
        QString p = QFileDialog::getSaveFileName(window(), tr("Export JSON"), start_dir_ + "/vitlens.json", "JSON (*.json)");
        if (!p.isEmpty() && !exportJson(p)) emit failed(tr("Cannot write %1").arg(p));
    });
}

void FolderTab::classifyAll() {
    QStringList paths;
    for (int i = 0; i < files_->count(); ++i) paths << files_->item(i)->data(Qt::UserRole).toString();
    if (paths.isEmpty()) return;
    table_->setSortingEnabled(false);
    table_->setRowCount(0);
    batch_progress_->setRange(0, static_cast<int>(paths.size()));
    batch_progress_->setValue(0);
    emit batchRequested(paths);
}

qsizetype FolderTab::showFolder(const QString& dir) {
    files_->clear();
    std::vector<std::string> problems;  // the CLI's listing: a folder with no images says so by its count
    QStringList paths;
    for (const std::string& p : frontend::collect_images({dir.toStdString()}, problems))
        paths << QString::fromStdString(p);
    QSignalBlocker b(files_);
    for (const QString& p : paths) {
        auto* item = new QListWidgetItem(QDir(dir).relativeFilePath(p));
        item->setData(Qt::UserRole, p);
        files_->addItem(item);
    }
    return paths.size();
}

void FolderTab::selectFirst() { files_->setCurrentRow(0); }

bool FolderTab::step(int delta) {
    if (files_->count() <= 0) return false;
    const int row = files_->currentRow() + delta;
    files_->setCurrentRow(delta > 0 ? std::min(files_->count() - 1, row) : std::max(0, row));
    return true;
}

int FolderTab::rowCount() const { return table_->rowCount(); }

void FolderTab::addRow(const BatchRow& row) {
    int r = table_->rowCount();
    table_->insertRow(r);
    table_->setItem(r, 0, new QTableWidgetItem(row.path));
    table_->setItem(r, 1, new QTableWidgetItem(row.label));
    auto* p = new QTableWidgetItem;
    if (row.error.isEmpty()) p->setData(Qt::DisplayRole, double(row.prob));
    table_->setItem(r, 2, p);
    table_->setItem(r, 3, new QTableWidgetItem(row.error));
}

void FolderTab::showProgress(int done) { batch_progress_->setValue(done); }

void FolderTab::finishBatch() { table_->setSortingEnabled(true); }

QList<ExportRow> FolderTab::rows() const {
    QList<ExportRow> out;
    for (int r = 0; r < table_->rowCount(); ++r) {
        auto txt = [&](int c) { return table_->item(r, c) ? table_->item(r, c)->text() : QString(); };
        out.append(ExportRow{txt(0), txt(1), txt(2), txt(3)});
    }
    return out;
}

bool FolderTab::exportCsv(const QString& path) const { return write_batch_csv(rows(), path); }

bool FolderTab::exportJson(const QString& path) const { return write_batch_json(rows(), path); }

}  // namespace vitlens::gui
