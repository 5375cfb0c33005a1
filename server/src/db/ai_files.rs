//! The SQL of the Files API: who uploaded which file, and what a batch input file holds.

use sqlx::Row;

use super::users::UserId;
use super::{Db, DbError, Tx};

/// A file as the Files API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiFile {
    pub id: String,
    pub user: UserId,
    pub purpose: String,
    pub filename: String,
    pub bytes: i64,
    pub lines: i64,
    pub endpoint: String,
    pub model: String,
    pub created_at_ms: i64,
}

const FILE_COLUMNS: &str = "id, user_id, purpose, filename, bytes, lines, endpoint, model, created_at_ms";

fn file_of(row: &sqlx::any::AnyRow) -> Result<AiFile, DbError> {
    Ok(AiFile {
        id: row.try_get("id")?,
        user: row.try_get("user_id")?,
        purpose: row.try_get("purpose")?,
        filename: row.try_get("filename")?,
        bytes: row.try_get("bytes")?,
        lines: row.try_get("lines")?,
        endpoint: row.try_get("endpoint")?,
        model: row.try_get("model")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

/// Adds a file's row (ids are unique).
pub async fn insert_file(tx: &mut Tx<'_>, file: &AiFile) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ai_files (id, user_id, purpose, filename, bytes, lines, endpoint, model, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&file.id)
    .bind(file.user)
    .bind(&file.purpose)
    .bind(&file.filename)
    .bind(file.bytes)
    .bind(file.lines)
    .bind(&file.endpoint)
    .bind(&file.model)
    .bind(file.created_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    pub async fn add_ai_file(&self, file: &AiFile) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        insert_file(&mut tx, file).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One of `user`'s files.
    pub async fn ai_file(&self, user: UserId, id: &str) -> Result<Option<AiFile>, DbError> {
        let row = sqlx::query(&format!("SELECT {FILE_COLUMNS} FROM ai_files WHERE id = $1 AND user_id = $2"))
            .bind(id)
            .bind(user)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(file_of).transpose()
    }

    /// `user`'s files, newest first.
    pub async fn ai_files(&self, user: UserId) -> Result<Vec<AiFile>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM ai_files WHERE user_id = $1 ORDER BY created_at_ms DESC, id"
        ))
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(file_of).collect()
    }

    /// Forgets one of `user`'s files; false when there was none.
    pub async fn delete_ai_file(&self, user: UserId, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM ai_files WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user)
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn files_are_their_owners_only(db: Db) {
        let ada = db.create_user("Ada", 0).await.expect("user");
        let bob = db.create_user("Bob", 0).await.expect("user");
        let file = AiFile {
            id: "file-1".into(),
            user: ada,
            purpose: "batch".into(),
            filename: "in.jsonl".into(),
            bytes: 10,
            lines: 2,
            endpoint: "/v1/embeddings".into(),
            model: "m".into(),
            created_at_ms: 5,
        };
        db.add_ai_file(&file).await.expect("add");
        assert!(db.add_ai_file(&file).await.is_err(), "ids are unique");
        assert_eq!(db.ai_file(ada, "file-1").await.expect("read"), Some(file.clone()));
        assert_eq!(db.ai_file(bob, "file-1").await.expect("read"), None);
        assert_eq!(db.ai_files(ada).await.expect("list"), vec![file]);
        assert!(!db.delete_ai_file(bob, "file-1").await.expect("not Bob's"));
        assert!(db.delete_ai_file(ada, "file-1").await.expect("deleted"));
        assert!(db.ai_files(ada).await.expect("list").is_empty());
    }

    crate::both_backends!(files_are_their_owners_only);
}
