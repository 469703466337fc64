"""What each database engine runs for a backup, as plain data (sh scripts run by `docker exec` in the
database container or in a scratch one), and how its output is read. Pure: tested without an engine.

Every script reads the credentials from the container's own environment (the variables the official
images and tahobuddy-local/* take), so nothing secret is in an argv, and each one works with the official
images too (mysql:8 has `mysql` and `mysqldump` where MariaDB has `mariadb` and `mariadb-dump`).
"""
from __future__ import annotations

import secrets
import shlex

SUFFIX = {"postgres": "pgdump", "mysql": "sql", "redis": "rdb"}
_PSQL = 'psql -v ON_ERROR_STOP=1 -qAt -U "$POSTGRES_USER" -d "${POSTGRES_DB:-$POSTGRES_USER}"'
_MYSQL = ('client=$(command -v mariadb || command -v mysql); export MYSQL_PWD="$MYSQL_PASSWORD"; '
          'sql() { "$client" -N -u "$MYSQL_USER" "$MYSQL_DATABASE" "$@"; }; ')
_REDIS_KEYS = "redis-cli info keyspace | sed -n 's/^db\\([0-9]*\\):keys=\\([0-9]*\\),.*/db\\1|\\2/p'"

# rows of every table (schema.table|count), in one statement
_PG_COUNTS = ("select n.nspname || '.' || c.relname || '|' || (xpath('/row/c/text()', query_to_xml(format("
              "'select count(*) as c from %I.%I', n.nspname, c.relname), false, true, '')))[1]::text "
              "from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') "
              "and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' "
              "order by 1")
COUNT = {
    "postgres": f'{_PSQL} -c "{_PG_COUNTS}"',
    "mysql": _MYSQL + ("for t in $(sql -e \"select table_name from information_schema.tables where "
                       "table_schema = database() and table_type = 'BASE TABLE' order by 1\"); do "
                       "echo \"$t|$(sql -e \"select count(*) from \\`$t\\`\")\"; done"),
    "redis": _REDIS_KEYS,
}
# Postgres: the counts and the dump see one snapshot. A session holds a repeatable-read transaction open
# (fed through a fifo), exports its snapshot for pg_dump, and counts in it; the counts go to {counts}.
_PG_DUMP = (
    'set -e; d=$(mktemp -d); mkfifo "$d/in"; '
    f'{_PSQL} <"$d/in" >"$d/out" 2>&1 & '
    'exec 3>"$d/in"; '
    'echo "begin transaction isolation level repeatable read, read only; select pg_export_snapshot();" >&3; '
    'i=0; until [ -s "$d/out" ]; do i=$((i + 1)); '
    'if [ $i -gt 600 ]; then cat "$d/out" >&2; exit 1; fi; sleep 0.05; done; '
    'pg_dump -Fc --snapshot="$(head -n 1 "$d/out")" -U "$POSTGRES_USER" "${POSTGRES_DB:-$POSTGRES_USER}"; '
    f'printf "%s;\ncommit;\n" {shlex.quote(_PG_COUNTS)} >&3; exec 3>&-; wait; '
    'tail -n +2 "$d/out" >{counts}; rm -rf "$d"')
# the dump on stdout; nothing else is written there
COUNTS_IN_DUMP = {"postgres"}   # the others' counts are taken just before their dump starts
DUMP = {
    "postgres": _PG_DUMP,
    "mysql": ('export MYSQL_PWD="$MYSQL_PASSWORD"; dump=$(command -v mariadb-dump || command -v mysqldump); '
              'exec "$dump" --single-transaction --routines --triggers --no-tablespaces -u "$MYSQL_USER" '
              '"$MYSQL_DATABASE"'),
    # BGSAVE forks a point-in-time copy; wait until that save is over and succeeded, then its file
    "redis": ("set -e; redis-cli bgsave >/dev/null; "
              "while redis-cli info persistence | grep -q '^rdb_bgsave_in_progress:1'; do sleep 0.1; done; "
              "redis-cli info persistence | grep -q '^rdb_last_bgsave_status:ok' "
              "|| { echo 'BGSAVE failed' >&2; exit 1; }; "
              'exec cat "$(redis-cli config get dir | sed -n 2p)/$(redis-cli config get dbfilename | sed -n 2p)"'),
}
READY = {
    # over TCP: the server of the first start's setup listens on no port, the real one does
    "postgres": f'PGPASSWORD="$POSTGRES_PASSWORD" {_PSQL} -h 127.0.0.1 -c "select 1"',
    "mysql": _MYSQL + 'sql -h 127.0.0.1 -e "select 1"',
    "redis": "redis-cli ping | grep -q PONG",
}
# the dump is at {path} in the scratch container (redis: already loaded at start); see restore_script
RESTORE = {
    "postgres": f'pg_restore --exit-on-error --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB" {{path}}',
    # mysqldump's last line says it completed: a dump cut short may still load without an error
    "mysql": _MYSQL + ('tail -c 200 {path} | grep -q -- "-- Dump completed" '
                       '|| { echo "the dump does not end with its completion line: it was cut short" >&2; exit 1; }; '
                       'sql < {path}'),
    "redis": "true",
}
DATA = {"postgres": "/var/lib/postgresql/data", "mysql": "/var/lib/mysql", "redis": "/data"}


def dump_script(kind: str, counts: str) -> str:
    return DUMP[kind].replace("{counts}", counts)


def restore_script(kind: str, path: str) -> str:
    return RESTORE[kind].replace("{path}", path)


def scratch_env(kind: str, database: str) -> dict:
    """A scratch server's variables: the same user and database names as the app's, a throwaway password."""
    password = secrets.token_urlsafe(18)
    return {"postgres": {"POSTGRES_USER": "tahobuddy", "POSTGRES_PASSWORD": password, "POSTGRES_DB": database},
            "mysql": {"MYSQL_USER": "tahobuddy", "MYSQL_PASSWORD": password, "MYSQL_DATABASE": database,
                      "MYSQL_RANDOM_ROOT_PASSWORD": "yes"},
            "redis": {}}[kind]


def parse_counts(text: str) -> dict[str, int]:
    """`name|count` lines -> {name: count}."""
    out = {}
    for line in text.splitlines():
        name, sep, count = line.strip().rpartition("|")
        if sep and count.strip().isdigit():
            out[name] = int(count)
    return out


def compare(expected: dict[str, int], found: dict[str, int]) -> str:
    """'' when the restored counts are the ones taken at dump time, else what differs (a few)."""
    diffs = [f"{name}: {expected.get(name, 0)} at dump, {found.get(name, 0)} restored"
             for name in sorted(set(expected) | set(found)) if expected.get(name, 0) != found.get(name, 0)]
    if not diffs:
        return ""
    return "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
