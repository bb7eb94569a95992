#!/bin/sh
# Back up hazardbot: a consistent dump of the database, then the photos.
#
# Environment: MYSQL_HOST (default 127.0.0.1), MYSQL_PORT (3306),
# MYSQL_USER (root), MYSQL_PWD (read by the client itself, so the password
# never shows in ps), MYSQL_DATABASE (required), DATA_DIR (hazardbot's data
# directory, default /data), BACKUP_DIR (default /backup).
#
# Writes BACKUP_DIR/hazardbot-<UTC time>/ with database.sql.gz, photos.tar.gz
# and SHA256SUMS, and prints that directory. The servers keep running.
set -eu

: "${MYSQL_DATABASE:?set MYSQL_DATABASE}"
DATA_DIR=${DATA_DIR:-/data}
BACKUP_DIR=${BACKUP_DIR:-/backup}
dump=$(command -v mariadb-dump || command -v mysqldump) || { echo "backup: no mariadb-dump or mysqldump" >&2; exit 1; }

out="$BACKUP_DIR/hazardbot-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

# --single-transaction reads one consistent InnoDB snapshot without locking
# the tables the servers write to; --no-tablespaces needs no PROCESS grant.
"$dump" --host="${MYSQL_HOST:-127.0.0.1}" --port="${MYSQL_PORT:-3306}" --user="${MYSQL_USER:-root}" \
	--single-transaction --quick --routines --triggers --hex-blob --no-tablespaces \
	--default-character-set=utf8mb4 "$MYSQL_DATABASE" | gzip -9 >"$out/database.sql.gz.part"
mv "$out/database.sql.gz.part" "$out/database.sql.gz"

# The photos after the dump: a photo's file is written before its row, so
# every photo the dump names is already on disk (newer files are harmless).
if [ -d "$DATA_DIR/photos" ]; then
	tar -C "$DATA_DIR" -czf "$out/photos.tar.gz" photos
else
	tar -czf "$out/photos.tar.gz" -T /dev/null # no photo yet
fi

(cd "$out" && sha256sum database.sql.gz photos.tar.gz >SHA256SUMS)
echo "$out"
