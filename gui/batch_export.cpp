#include "batch_export.h"

#include <QIODevice>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QTextStream>

#include "vitlens/frontend/text_format.h"

namespace vitlens::gui {

namespace {

// The CLI's CSV rule (front-end layer), so both exports read alike.
QString csv(const QString& s) { return QString::fromStdString(frontend::csv_field(s.toStdString())); }

}  // namespace

bool write_batch_csv(const QList<ExportRow>& rows, const QString& path) {
    QSaveFile f(path);  // written whole or not at all
    if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) return false;
    QTextStream s(&f);
    s << "image,label,probability,error\n";
    for (const ExportRow& r : rows)
        s << csv(r.image) << "," << csv(r.label) << "," << r.probability << "," << csv(r.error) << "\n";
    s.flush();
    return f.commit();
}

bool write_batch_json(const QList<ExportRow>& rows, const QString& path) {
    QJsonArray arr;
    for (const ExportRow& r : rows) {
        QJsonObject o{{"image", r.image}, {"label", r.label}};
        if (r.error.isEmpty()) o["probability"] = r.probability.toDouble();
        else o["error"] = r.error;
        arr.append(o);
    }
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly)) return false;
    f.write(QJsonDocument(arr).toJson());
    return f.commit();
}

}  // namespace vitlens::gui
