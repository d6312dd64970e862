// The Folder tab: the images of an opened folder (choosing one opens it),
// "Classify all" with its progress and results table, and the table's
// CSV / JSON export.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>
#include <QWidget>

#include "batch_export.h"
#include "worker.h"

class QListWidget;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace vitlens::gui {

class FolderTab : public QWidget {
    Q_OBJECT
public:
    explicit FolderTab(QWidget* parent = nullptr);

    // Where the export dialogs start.
    void setStartDir(const QString& dir) { start_dir_ = dir; }
    // Lists the images under `dir` (subfolders too, sorted) and opens none; returns how many.
    qsizetype showFolder(const QString& dir);
    void selectFirst();  // opens the first image (imageChosen)
    // The arrow keys: the next (+1) or previous (-1) image; false when the list is empty.
    bool step(int delta);
    int rowCount() const;  // rows in the batch table
    bool exportCsv(const QString& path) const;
    bool exportJson(const QString& path) const;

public slots:
    void addRow(const vitlens::gui::BatchRow& row);
    void showProgress(int done);
    void finishBatch();  // the table sorts again

signals:
    void imageChosen(const QString& path);
    // "Classify all": the table and progress are reset for `paths`.
    void batchRequested(const QStringList& paths);
    void failed(const QString& message);  // an export could not be written

private:
    void classifyAll();
    QList<ExportRow> rows() const;

    QListWidget* files_ = nullptr;
    QTableWidget* table_ = nullptr;
    QProgressBar* batch_progress_ = nullptr;
    QPushButton* classify_all_ = nullptr;
    QString start_dir_;
};

}  // namespace vitlens::gui
