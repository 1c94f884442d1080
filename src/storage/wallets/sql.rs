//! The SQL shapes a wallet batch shares: id lists padded for the statement cache, row locks and
//! updates that go by the primary key (MySQL told so), id lists, statements with values inline.

use sea_orm::{
    sea_query::{
        extension::mysql::{IndexHintScope, MySqlSelectStatementExt},
        Alias, LockType, MysqlQueryBuilder, PostgresQueryBuilder, QueryStatementWriter, SqliteQueryBuilder,
    },
    ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QuerySelect,
};
use std::fmt::Write as _;

/// `v` sorted and deduplicated, then padded to a power of two with its last value.
pub(super) fn padded<T: Ord + Clone>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    if let Some(last) = v.last().cloned() {
        v.resize(v.len().next_power_of_two(), last);
    }
    v
}

/// `FOR UPDATE`, going by the primary key. SQLite has no row locks: the batch holds its write
/// lock. MySQL is told to use the primary key: with more than 200 values in an `IN` list it
/// estimates rather than looks, and on a small table chose a full scan, which locks every row.
pub(super) fn lock_by_primary_key<E: EntityTrait>(tx: &DatabaseTransaction, q: &mut sea_orm::Select<E>) {
    match tx.get_database_backend() {
        DbBackend::Sqlite => {}
        DbBackend::Postgres => {
            QuerySelect::query(q).lock(LockType::Update);
        }
        DbBackend::MySql => {
            QuerySelect::query(q).lock(LockType::Update).force_index(Alias::new("PRIMARY"), IndexHintScope::All);
        }
    }
}

/// `UPDATE table`, with MySQL told to go by the primary key (see `lock_by_primary_key`).
pub(super) fn update_by_primary_key(backend: DbBackend, table: &str) -> String {
    match backend {
        DbBackend::MySql => format!("UPDATE {table} FORCE INDEX (PRIMARY) SET "),
        _ => format!("UPDATE {table} SET "),
    }
}

pub(super) fn push_list<'a>(sql: &mut String, ids: impl Iterator<Item = &'a i64>) {
    for (i, id) in ids.enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let _ = write!(sql, "{id}");
    }
}

/// The statement with its values inline, in the backend's dialect.
pub(super) fn inline<S: QueryStatementWriter>(backend: DbBackend, s: &S) -> String {
    match backend {
        DbBackend::MySql => s.to_string(MysqlQueryBuilder),
        DbBackend::Postgres => s.to_string(PostgresQueryBuilder),
        DbBackend::Sqlite => s.to_string(SqliteQueryBuilder),
    }
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn id_lists_are_deduplicated_and_padded_to_a_power_of_two() {
        assert_eq!(padded(vec![3, 1, 3, 2]), vec![1, 2, 3, 3]);
        assert_eq!(padded(vec![5]), vec![5]);
        assert_eq!(padded(Vec::<i64>::new()), Vec::<i64>::new());
        assert_eq!(padded((1..=5).collect::<Vec<i64>>()).len(), 8);
    }
}
