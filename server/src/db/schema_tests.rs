//! The SQLite and PostgreSQL migration folders describe one schema: the same tables, columns (under a type map),
//! nullability and indexes. A migration added to one folder only fails here.

use std::collections::BTreeSet;

use crate::db::Db;
use crate::testing::TestDb;

/// table, column, type family, NOT NULL.
type Column = (String, String, &'static str, bool);
/// table, columns in order, unique.
type Index = (String, String, bool);

/// Both dialects' column types mapped onto the few families SQLite knows.
fn family(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "smallint" | "int" | "int8" | "int4" | "boolean" => "integer",
        "text" | "character varying" | "varchar" => "text",
        "real" | "double precision" | "float8" => "real",
        "blob" | "bytea" => "blob",
        _ => "other",
    }
}

async fn sqlite_schema(db: &Db) -> (BTreeSet<Column>, BTreeSet<Index>) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(db.reader())
    .await
    .expect("tables");
    let (mut columns, mut indexes) = (BTreeSet::new(), BTreeSet::new());
    for table in tables {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(db.reader())
                .await
                .expect("columns");
        for (name, declared, not_null, primary) in rows {
            // A primary key is never null, whether or not it says so.
            columns.insert((table.clone(), name, family(&declared), not_null == 1 || primary > 0));
        }
        let listed: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
                .bind(&table)
                .fetch_all(db.reader())
                .await
                .expect("indexes");
        for (index, unique, _) in listed.into_iter().filter(|(_, _, origin)| origin != "pk") {
            let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                .bind(&index)
                .fetch_all(db.reader())
                .await
                .expect("index columns");
            indexes.insert((table.clone(), names.join(","), unique == 1));
        }
    }
    (columns, indexes)
}

async fn postgres_schema(db: &Db) -> (BTreeSet<Column>, BTreeSet<Index>) {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(db.reader())
    .await
    .expect("columns");
    let columns = rows
        .into_iter()
        .map(|(table, name, declared, nullable)| (table, name, family(&declared), nullable == "NO"))
        .collect();
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT t.relname::text,
                array_to_string(ARRAY(SELECT a.attname::text FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
                                      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                                      ORDER BY k.ord), ','),
                ix.indisunique
         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND NOT ix.indisprimary AND t.relname NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(db.reader())
    .await
    .expect("indexes");
    (columns, rows.into_iter().collect())
}

fn differences<T: Ord + std::fmt::Debug>(sqlite: &BTreeSet<T>, postgres: &BTreeSet<T>) -> Vec<String> {
    let only_sqlite = sqlite.difference(postgres).map(|item| format!("only in SQLite: {item:?}"));
    let only_postgres = postgres.difference(sqlite).map(|item| format!("only in PostgreSQL: {item:?}"));
    only_sqlite.chain(only_postgres).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_folders_describe_the_same_schema() {
    let (sqlite, postgres) = (TestDb::sqlite().await, TestDb::postgres().await);
    let (sqlite_columns, sqlite_indexes) = sqlite_schema(&sqlite.db).await;
    let (postgres_columns, postgres_indexes) = postgres_schema(&postgres.db).await;
    assert!(sqlite_columns.len() > 50, "the schema was read: {} columns", sqlite_columns.len());
    assert!(sqlite_indexes.iter().any(|(table, columns, _)| table == "tasks" && columns == "job_id,state,id"));
    let mut problems = differences(&sqlite_columns, &postgres_columns);
    problems.extend(differences(&sqlite_indexes, &postgres_indexes));
    assert!(problems.is_empty(), "the migration folders differ:\n{}", problems.join("\n"));
}
