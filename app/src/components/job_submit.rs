//! Browser side of "New render job": streams the chosen `.blend` to `PUT /api/v1/scenes`, then submits the job.

#[cfg(feature = "hydrate")]
pub use browser::submit_job;

#[cfg(feature = "hydrate")]
mod browser {
    use gloo_net::http::Request;
    use pictor_core::jobs::JobForm;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }

    #[derive(Deserialize)]
    struct Uploaded {
        scene_key: String,
    }

    #[derive(Deserialize)]
    struct Submitted {
        job_id: i64,
    }

    async fn failure(response: gloo_net::http::Response, what: &str) -> String {
        let status = response.status();
        response.json::<ErrorBody>().await.map_or_else(|_| format!("{what} failed ({status})"), |body| body.error)
    }

    /// Uploads `file` (the browser streams it from disk) and submits `form` for it; returns the new job's id.
    pub async fn submit_job(file: web_sys::File, form: JobForm) -> Result<i64, String> {
        let response = Request::put("/api/v1/scenes")
            .header("Content-Type", "application/octet-stream")
            .body(file)
            .map_err(|error| error.to_string())?
            .send()
            .await
            .map_err(|error| format!("cannot reach Pictor: {error}"))?;
        if !response.ok() {
            return Err(failure(response, "the upload").await);
        }
        let uploaded: Uploaded = response.json().await.map_err(|error| error.to_string())?;
        let response = Request::post("/api/v1/jobs")
            .json(&serde_json::json!({ "scene_key": uploaded.scene_key, "form": form }))
            .map_err(|error| error.to_string())?
            .send()
            .await
            .map_err(|error| format!("cannot reach Pictor: {error}"))?;
        if !response.ok() {
            return Err(failure(response, "submitting the job").await);
        }
        let submitted: Submitted = response.json().await.map_err(|error| error.to_string())?;
        Ok(submitted.job_id)
    }
}
