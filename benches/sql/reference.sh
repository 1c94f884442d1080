#!/usr/bin/env bash
# Reference figures for the wallet benchmark (benches/wallet.rs): how many conditional debits a
# second each database commits when driven by its own tools, with no Rust, no pool and no ORM in
# the way. `cargo bench --bench wallet` can then be stated as a fraction of these.
#
# Two shapes, on tables shaped like migrations/src/m20261124_000001_foundation.rs creates them
# (wallets; trades with unique (kind, ref) and the (user_id, id) index), 1,000 wallets:
#   single  one transaction = one `UPDATE wallets ... WHERE user_id = u AND balance >= 1` and
#           one trade insert; 16 clients, users at random (one row lock each: no deadlocks).
#   batch   one transaction = 256 debits as one set-based UPDATE (joined to 256 literal rows)
#           and one 256-row trade INSERT; 2 clients, each on its own half of the wallets so two
#           batches never wait on (or deadlock with) each other, as the app's single wallet
#           writer never does. debits/s = transactions/s x 256.
# SQLite has one writer, so it runs both shapes with one client.
#
# Postgres runs pgbench (-T bounds the time). MariaDB runs one `mariadb` client session per
# client fed an endless stream of transactions with literal values (as pgbench sends them) and
# ends after DUR seconds; the rate is trades committed / seconds from start until every client
# has finished. mysqlslap is run too for the
# single shape as a cross-check, but it has no per-client variables or client id (no disjoint
# users per client for the batch shape) and no time bound. SQLite runs the sqlite3 CLI the same
# way as MariaDB. Durability is each engine's default as the app runs it: Postgres
# synchronous_commit=on, InnoDB innodb_flush_log_at_trx_commit=1, SQLite WAL with
# synchronous=NORMAL (src/storage/db.rs).
#
# Usage: benches/sql/reference.sh   (DUR=seconds per figure, default 10)
# Needs pgbench (postgresql-client or postgresql-contrib), mariadb + mysqlslap (mariadb-client),
# sqlite3 (sqlite3). Creates and drops database lrb_ref on 127.0.0.1:5432 (user postgres) and
# 127.0.0.1:3306 (root); the SQLite file lives in a temporary directory.

set -euo pipefail

DUR=${DUR:-10}
WALLETS=1000
BATCH=256
DB=lrb_ref
export PGOPTIONS="-c client_min_messages=warning" # no NOTICE for DROP ... IF EXISTS
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
MARIADB=(mariadb -h 127.0.0.1 -u root)
TMP=$(mktemp -d)

cleanup() {
    "${PSQL[@]}" -d test -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    "${MARIADB[@]}" -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

for tool in pgbench psql mariadb mysqlslap gawk; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y postgresql-client mariadb-client" >&2; exit 1; }
done

# One line per figure: engine, shape, clients, debits/s, and the command that measured it.
report() { printf '%-8s %-6s %2s clients %9.0f debits/s   %s\n' "$1" "$2" "$3" "$4" "$5"; }

# Schema as the migration makes it (column types, check, unique and secondary index).
schema() {
    local text=$1 # the string type: varchar(n) on Postgres and MariaDB, text affinity on SQLite
    cat <<SQL
CREATE TABLE wallets (
    user_id bigint NOT NULL PRIMARY KEY,
    balance bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at bigint NOT NULL
);
CREATE TABLE trades (
    id bigint NOT NULL PRIMARY KEY,
    user_id bigint NOT NULL,
    kind ${text/N/20} NOT NULL,
    ref ${text/N/100} NOT NULL,
    amount bigint NOT NULL,
    balance_after bigint NOT NULL,
    created_at bigint NOT NULL
);
CREATE UNIQUE INDEX ux_trades_kind_ref ON trades (kind, ref);
CREATE INDEX ix_trades_user ON trades (user_id, id);
SQL
}

# DUR seconds' worth of transactions with literal values for client $1 of $2, in the dialect of
# $3 (mysql or sqlite), shape $4 (single or batch): gawk writes until the deadline, blocking
# while the client is behind, so the client ends a pipe buffer (under 0.1 s of work) after it.
# Trade ids are unique per client (client x 10^12 + counter) and the ref is derived from the
# id, so (kind, ref) never collides.
stream() {
    gawk -v c="$1" -v clients="$2" -v dialect="$3" -v shape="$4" -v W="$WALLETS" -v B="$BATCH" -v dur="$DUR" '
    BEGIN {
        srand(c + 1)
        deadline = systime() + dur
        begin = dialect == "sqlite" ? "BEGIN IMMEDIATE;" : "START TRANSACTION;"
        id = (c + 1) * 1000000000000
        slice = int(W / clients)          # batch shape: this client owns users base .. base+slice-1
        base = c * slice + 1
        while (systime() < deadline) {
            if (shape == "single") {
                u = int(rand() * W) + 1; id++
                printf "%s\nUPDATE wallets SET balance = balance - 1, updated_at = 1 WHERE user_id = %d AND balance >= 1;\n", begin, u
                printf "INSERT INTO trades (id, user_id, kind, ref, amount, balance_after, created_at) VALUES (%.0f, %d, \x27gift\x27, \x27b%.0f\x27, -1, 0, 1);\nCOMMIT;\n", id, u, id
                continue
            }
            b = int(rand() * slice); rows = ""; ins = ""
            for (i = 0; i < B; i++) {
                u = base + (b + i) % slice; id++
                if (dialect == "sqlite") rows = rows (i ? "," : "") "(" u ",1)"
                else rows = rows (i ? " UNION ALL SELECT " : "SELECT ") u (i ? ", 1" : " AS u, 1 AS d")
                ins = ins sprintf("%s(%.0f, %d, \x27gift\x27, \x27b%.0f\x27, -1, 0, 1)", i ? "," : "", id, u, id)
            }
            print begin
            if (dialect == "sqlite")
                print "UPDATE wallets SET balance = wallets.balance - v.column2, updated_at = 1 FROM (VALUES " rows ") AS v WHERE wallets.user_id = v.column1 AND wallets.balance >= v.column2;"
            else
                print "UPDATE wallets w JOIN (" rows ") v ON w.user_id = v.u SET w.balance = w.balance - v.d, w.updated_at = 1 WHERE w.balance >= v.d;"
            print "INSERT INTO trades (id, user_id, kind, ref, amount, balance_after, created_at) VALUES " ins ";"
            print "COMMIT;"
        }
    }'
}

# Runs `clients` pipelines `stream | client` until they end; sets RATE to trades committed per
# second. $1 clients, $2 dialect, $3 shape, $4 the command that counts trades.
run_streams() {
    local clients=$1 dialect=$2 shape=$3 count=$4 before after c t0 t1
    : >"$TMP/err"
    before=$($count)
    t0=$(date +%s.%N)
    for ((c = 0; c < clients; c++)); do
        if [[ $dialect == sqlite ]]; then
            { echo "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"; stream "$c" "$clients" sqlite "$shape"; } \
                | sqlite3 "$TMP/ref.db" >/dev/null 2>>"$TMP/err" &
        else
            stream "$c" "$clients" mysql "$shape" | "${MARIADB[@]}" "$DB" 2>>"$TMP/err" &
        fi
    done
    wait
    t1=$(date +%s.%N)
    if [[ -s $TMP/err ]]; then
        echo "client errors:" >&2; sort -u "$TMP/err" | head -5 >&2; exit 1
    fi
    after=$($count)
    RATE=$(awk -v a="$after" -v b="$before" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", (a - b) / (t1 - t0) }')
}

# --- Postgres --------------------------------------------------------------------------------
postgres() {
    "${PSQL[@]}" -d test -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
    { schema 'varchar(N)'; echo "INSERT INTO wallets SELECT g, 1000000000000, 0 FROM generate_series(1, $WALLETS) g;"; } \
        | "${PSQL[@]}" -d "$DB" >/dev/null
    # pgbench substitutes :u and :id as literals (simple protocol); \set runs in pgbench.
    cat >"$TMP/single.pgb" <<'PGB'
\set u random(1, 1000)
\set id random(1, 9000000000000000000)
BEGIN;
UPDATE wallets SET balance = balance - 1, updated_at = 1 WHERE user_id = :u AND balance >= 1;
INSERT INTO trades (id, user_id, kind, ref, amount, balance_after, created_at) VALUES (:id, :u, 'gift', 'b' || :id, -1, 0, 1);
END;
PGB
    {
        # This client's half of the wallets, a random start in it, 256 consecutive users (wrapping).
        echo '\set slice 500'
        echo '\set b random(0, 499)'
        echo '\set id random(1, 9000000000000000000)'
        local i rows=() ins=()
        for ((i = 0; i < BATCH; i++)); do
            echo "\\set u$i :client_id * :slice + 1 + (:b + $i) % :slice"
            echo "\\set id$i :id + $i"
            rows+=("(:u$i, 1)")
            ins+=("(:id$i, :u$i, 'gift', 'b' || :id$i, -1, 0, 1)")
        done
        echo 'BEGIN;'
        echo "UPDATE wallets AS w SET balance = w.balance - v.d, updated_at = 1 FROM (VALUES $(IFS=,; echo "${rows[*]}")) AS v(u, d) WHERE w.user_id = v.u AND w.balance >= v.d;"
        echo "INSERT INTO trades (id, user_id, kind, ref, amount, balance_after, created_at) VALUES $(IFS=,; echo "${ins[*]}");"
        echo 'END;'
    } >"$TMP/batch.pgb"
    local cmd tps
    cmd="pgbench -h 127.0.0.1 -U postgres -n -T $DUR -c 16 -j 2 -f single.pgb $DB"
    tps=$(cd "$TMP" && $cmd 2>&1 | awk '/^tps = / { print $3 }')
    report postgres single 16 "$tps" "$cmd"
    "${PSQL[@]}" -d "$DB" -c "TRUNCATE trades" -c "VACUUM ANALYZE" >/dev/null
    cmd="pgbench -h 127.0.0.1 -U postgres -n -T $DUR -c 2 -j 2 -f batch.pgb $DB"
    tps=$(cd "$TMP" && $cmd 2>&1 | awk '/^tps = / { print $3 }')
    report postgres batch 2 "$(awk -v t="$tps" -v b="$BATCH" 'BEGIN { print t * b }')" "$cmd   (tps x $BATCH)"
}

# --- MariaDB ---------------------------------------------------------------------------------
mariadb_count() { "${MARIADB[@]}" -N -B "$DB" -e "SELECT COUNT(*) FROM trades"; }

mariadb_ref() {
    "${MARIADB[@]}" -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
    { schema 'varchar(N)'; echo "INSERT INTO wallets SELECT seq, 1000000000000, 0 FROM seq_1_to_$WALLETS;"; } \
        | "${MARIADB[@]}" "$DB"
    run_streams 16 mysql single mariadb_count
    local rate=$RATE
    report mariadb single 16 "$RATE" "16 x (stream single | mariadb $DB) for ${DUR}s, committed trades / elapsed"
    "${MARIADB[@]}" "$DB" -e "TRUNCATE trades"
    run_streams 2 mysql batch mariadb_count
    report mariadb batch 2 "$RATE" "2 x (stream batch | mariadb $DB) for ${DUR}s, committed trades / elapsed"
    "${MARIADB[@]}" "$DB" -e "TRUNCATE trades"

    # Cross-check of the single shape with mysqlslap: values are drawn on the server (RAND,
    # UUID_SHORT), one more round trip per transaction (the SET). Sized from the rate above to
    # last about DUR seconds; mysqlslap splits --number-of-queries among the clients and
    # counts each of the 5 statements as a query.
    local q=$(awk -v r="$rate" -v d="$DUR" 'BEGIN { printf "%d", r * d * 5 }') out secs
    cat >"$TMP/slap.sql" <<'SQL'
SET @u = FLOOR(1 + RAND() * 1000), @id = UUID_SHORT();
START TRANSACTION;
UPDATE wallets SET balance = balance - 1, updated_at = 1 WHERE user_id = @u AND balance >= 1;
INSERT INTO trades (id, user_id, kind, ref, amount, balance_after, created_at) VALUES (@id, @u, 'gift', CONCAT('b', @id), -1, 0, 1);
COMMIT;
SQL
    local cmd="mysqlslap -h 127.0.0.1 -u root --create-schema=$DB --no-drop --concurrency=16 --iterations=1 --number-of-queries=$q --delimiter=; --query=slap.sql"
    local before after
    before=$(mariadb_count)
    out=$(cd "$TMP" && $cmd 2>&1)
    after=$(mariadb_count)
    secs=$(echo "$out" | awk '/Average number of seconds/ { print $(NF - 1) }')
    report mariadb slap 16 "$(awk -v a="$after" -v b="$before" -v s="$secs" 'BEGIN { print (a - b) / s }')" "$cmd   (committed trades / ${secs} s)"
}

# --- SQLite ----------------------------------------------------------------------------------
sqlite_count() { sqlite3 "$TMP/ref.db" "SELECT COUNT(*) FROM trades"; }

sqlite_ref() {
    if ! command -v sqlite3 >/dev/null; then
        echo "sqlite   (skipped: no sqlite3 CLI; apt-get install -y sqlite3)"
        return
    fi
    { echo "PRAGMA journal_mode=WAL;"; schema 'text'; echo "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $WALLETS) INSERT INTO wallets SELECT n, 1000000000000, 0 FROM g;"; } \
        | sqlite3 "$TMP/ref.db" >/dev/null
    run_streams 1 sqlite single sqlite_count
    report sqlite single 1 "$RATE" "stream single | sqlite3 ref.db (WAL, synchronous=NORMAL) for ${DUR}s, committed trades / elapsed"
    sqlite3 "$TMP/ref.db" "DELETE FROM trades; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    run_streams 1 sqlite batch sqlite_count
    report sqlite batch 1 "$RATE" "stream batch | sqlite3 ref.db (WAL, synchronous=NORMAL) for ${DUR}s, committed trades / elapsed"
}

postgres
mariadb_ref
sqlite_ref
