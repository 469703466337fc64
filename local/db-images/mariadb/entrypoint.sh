#!/bin/sh
# First start with an empty /var/lib/mysql: the system tables, root's password (MYSQL_ROOT_PASSWORD,
# MYSQL_RANDOM_ROOT_PASSWORD=yes or MYSQL_ALLOW_EMPTY_PASSWORD=yes; MARIADB_* spellings too), then
# MYSQL_DATABASE, MYSQL_USER/MYSQL_PASSWORD with every right on it, and /docker-entrypoint-initdb.d
# (*.sql, *.sh), as the official images do. Then the server.
set -eu
case "$1" in -*) set -- mariadbd "$@" ;; esac
case "$1" in mariadbd | mysqld) server=yes ;; *) server=no ;; esac
if [ $server = yes ] && [ "$(id -u)" = 0 ]; then
  mkdir -p /var/lib/mysql /run/mysqld
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$0" "$@"
fi
quote() { printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
if [ $server = yes ] && [ ! -d /var/lib/mysql/mysql ]; then
  root=${MYSQL_ROOT_PASSWORD:-${MARIADB_ROOT_PASSWORD:-}}
  if [ -z "$root" ] && [ "${MYSQL_RANDOM_ROOT_PASSWORD:-${MARIADB_RANDOM_ROOT_PASSWORD:-}}" = yes ]; then
    root=$(head -c 18 /dev/urandom | base64)
    echo "GENERATED ROOT PASSWORD: $root"
  fi
  if [ -z "$root" ] && [ "${MYSQL_ALLOW_EMPTY_PASSWORD:-${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}}" != yes ]; then
    echo "set MYSQL_ROOT_PASSWORD, MYSQL_RANDOM_ROOT_PASSWORD=yes or MYSQL_ALLOW_EMPTY_PASSWORD=yes" >&2
    exit 1
  fi
  db=${MYSQL_DATABASE:-${MARIADB_DATABASE:-}}
  user=${MYSQL_USER:-${MARIADB_USER:-}}
  password=${MYSQL_PASSWORD:-${MARIADB_PASSWORD:-}}
  mariadb-install-db --datadir=/var/lib/mysql --auth-root-authentication-method=normal --skip-test-db \
    --skip-name-resolve >/dev/null
  "$@" --skip-networking --socket=/run/mysqld/mysqld.sock &
  pid=$!
  i=0
  until mariadb-admin --socket=/run/mysqld/mysqld.sock -uroot ping >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 300 ] || { echo "mariadbd did not start for its first setup" >&2; exit 1; }
    kill -0 $pid 2>/dev/null || { echo "mariadbd stopped during its first setup" >&2; exit 1; }
    sleep 0.1
  done
  {
    # the anonymous users and root@<container id> that mariadb-install-db makes
    echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');"
    echo "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(quote "$root");"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $(quote "$root");"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    [ -z "$db" ] || echo "CREATE DATABASE IF NOT EXISTS \`$db\`;"
    if [ -n "$user" ]; then
      echo "CREATE USER $(quote "$user")@'%' IDENTIFIED BY $(quote "$password");"
      [ -z "$db" ] || echo "GRANT ALL ON \`$db\`.* TO $(quote "$user")@'%';"
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket=/run/mysqld/mysqld.sock -uroot
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) . "$f" ;;
      *.sql) MYSQL_PWD=$root mariadb --socket=/run/mysqld/mysqld.sock -uroot ${db:+"$db"} <"$f" ;;
    esac
  done
  MYSQL_PWD=$root mariadb-admin --socket=/run/mysqld/mysqld.sock -uroot shutdown
  wait $pid || true
  echo "MariaDB init process complete; ready for start up."
fi
exec "$@"
