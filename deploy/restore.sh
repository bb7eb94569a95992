#!/bin/sh
# Restore a hazardbot backup made by backup.sh: check it, load the dump into
# MYSQL_DATABASE (its tables are replaced) and unpack the photos into
# DATA_DIR. Stop the hazardbot replicas first; start them afterwards.
#
#   restore.sh BACKUP_DIR/hazardbot-<time>
#
# Environment as for backup.sh.
set -eu

src=${1:?usage: restore.sh BACKUP_DIR/hazardbot-<time>}
: "${MYSQL_DATABASE:?set MYSQL_DATABASE}"
DATA_DIR=${DATA_DIR:-/data}
client=$(command -v mariadb || command -v mysql) || { echo "restore: no mariadb or mysql client" >&2; exit 1; }

# A damaged or incomplete backup stops here, before anything changes.
(cd "$src" && sha256sum -c --quiet SHA256SUMS)

gzip -dc "$src/database.sql.gz" | "$client" --host="${MYSQL_HOST:-127.0.0.1}" --port="${MYSQL_PORT:-3306}" \
	--user="${MYSQL_USER:-root}" --default-character-set=utf8mb4 "$MYSQL_DATABASE"

mkdir -p "$DATA_DIR"
tar -C "$DATA_DIR" -xzf "$src/photos.tar.gz"
echo "restored $src into $MYSQL_DATABASE and $DATA_DIR"
