// Writing the Folder tab's batch rows: CSV (fields quoted where needed) and
// JSON, each file written whole or not at all (QSaveFile).
#pragma once

#include <QList>
#include <QString>

namespace vitlens::gui {

// One row of the batch table as shown: the probability is its cell's text
// (empty when the image failed, and then `error` says why).
struct ExportRow {
    QString image, label, probability, error;
};

// "image,label,probability,error" and one line per row; false when `path` cannot be written.
bool write_batch_csv(const QList<ExportRow>& rows, const QString& path);
// An array of {"image", "label", "probability"} ({"image", "label", "error"} for a failed image).
bool write_batch_json(const QList<ExportRow>& rows, const QString& path);

}  // namespace vitlens::gui
