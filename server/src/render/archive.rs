//! `GET /api/v1/jobs/{id}/outputs.zip`: every accepted output of a job as one zip, streamed as it is written
//! (images are stored, not recompressed: they are compressed already).

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::api::workers::RestError;
use crate::db::jobs::JobOutput;
use crate::state::AppState;

/// `frame_0001.png`, or `frame_0001_tile_03.png` for a tile; the extension is the stored object's.
pub fn entry_name(output: &JobOutput) -> String {
    let extension = output.object_key.rsplit('.').next().unwrap_or("bin");
    match output.tile_index {
        Some(tile) => format!("frame_{:04}_tile_{tile:02}.{extension}", output.frame),
        None => format!("frame_{:04}.{extension}", output.frame),
    }
}

pub async fn outputs_zip(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<crate::db::JobId>,
) -> Result<Response, RestError> {
    let outputs = state
        .db
        .job_outputs(viewer.user_id, id)
        .await
        .map_err(|_| RestError::from(AppError::Unavailable))?
        .ok_or(AppError::NotFound)?;
    let (writer, reader) = tokio::io::duplex(256 * 1024);
    let store = state.store.clone();
    let handle = tokio::runtime::Handle::current();
    // The zip writer is synchronous: it runs on a blocking thread, writing into a pipe the response reads from.
    tokio::task::spawn_blocking(move || {
        if let Err(error) = write_zip(store, handle, outputs, writer) {
            // The client sees a truncated download; the log says why.
            tracing::warn!(job = %id, %error, "writing the outputs zip stopped");
        }
    });
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let disposition = format!("attachment; filename=\"job-{id}-outputs.zip\"");
    Ok(([(CONTENT_TYPE, "application/zip".to_string()), (CONTENT_DISPOSITION, disposition)], body).into_response())
}

fn write_zip(
    store: Arc<dyn ObjectStore>,
    handle: tokio::runtime::Handle,
    outputs: Vec<JobOutput>,
    pipe: tokio::io::DuplexStream,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let bridge = tokio_util::io::SyncIoBridge::new_with_handle(pipe, handle.clone());
    let mut zip = ZipWriter::new_stream(bridge);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for output in &outputs {
        let path = ObjectPath::from(output.object_key.as_str());
        // One image in memory at a time.
        let bytes = handle.block_on(async { store.get(&path).await?.bytes().await })?;
        zip.start_file(entry_name(output), options)?;
        zip.write_all(&bytes)?;
    }
    let mut bridge = zip.finish()?.into_inner();
    bridge.flush()?;
    bridge.shutdown()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_by_frame_and_tile() {
        let frame = JobOutput { frame: 7, tile_index: None, object_key: "outputs/1/2/1/7.png".into() };
        assert_eq!(entry_name(&frame), "frame_0007.png");
        let tile = JobOutput { frame: 7, tile_index: Some(3), object_key: "outputs/1/2/1/7.exr".into() };
        assert_eq!(entry_name(&tile), "frame_0007_tile_03.exr");
    }
}
