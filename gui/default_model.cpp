#include "default_model.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

namespace vitlens::gui {

QString default_model() {
    const QString env = qEnvironmentVariable("VITLENS_MODEL");
    if (!env.isEmpty()) return env;
    const QDir bin(QCoreApplication::applicationDirPath());
    for (const QString& rel : {QStringLiteral("../../assets/models/vit-fashion-mnist"),
                               QStringLiteral("../share/vitlens/models/vit-fashion-mnist")}) {
        const QDir dir(bin.filePath(rel));
        if (QFileInfo::exists(dir.filePath("config.json")) && QFileInfo::exists(dir.filePath("model.safetensors")))
            return dir.canonicalPath();
    }
    return {};
}

}  // namespace vitlens::gui
