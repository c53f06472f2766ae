//! The object expirer: deletes objects whose X-Delete-At has passed. Reads
//! already treat them as absent; this reclaims their rows and resources.

use std::time::Duration;

use crate::{store, Swift};

/// Runs forever, one pass every `every`; the caller aborts it on shutdown.
/// Each pass commits per batch, so an abort loses nothing.
pub async fn run_expirer(swift: Swift, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        loop {
            let now = db::now_micros() / 1_000_000;
            let res = swift
                .db()
                .transaction(move |c| {
                    let rows = store::expired_objects(c, now, 200)?;
                    for r in &rows {
                        store::delete_object_row(c, r)?;
                    }
                    Ok::<usize, crate::SwiftError>(rows.len())
                })
                .await;
            match res {
                Ok(n) if n > 0 => tracing::info!(expired = n, "expired objects deleted"),
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "object expirer pass failed");
                    break;
                }
            }
        }
    }
}
