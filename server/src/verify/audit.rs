//! Audits keep checkers honest: now and then a checker is handed a verified result whose crops were tampered with
//! (inverted), looking like any other check. The only right verdict is "fail"; a checker calling it good is lying
//! (or broken) and is suspended.

use image::{ImageFormat, Rgba};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use pictor_core::verification::{Crop, ROUND_ONE};

use super::error::VerifyError;
use super::planner::crops_for;
use crate::db::nodes::TokenNode;
use crate::db::Db;

/// Inverts the colour of each crop's pixels in the encoded image (Blender's rows count from the bottom).
pub fn tamper(encoded: &[u8], crops: &[Crop]) -> Result<(Vec<u8>, ImageFormat), image::ImageError> {
    let format = image::guess_format(encoded)?;
    let mut image = image::load_from_memory_with_format(encoded, format)?.to_rgba8();
    let height = image.height();
    for crop in crops {
        let r = crop.region;
        for y in r.min_y..r.max_y.min(height) {
            for x in r.min_x..r.max_x.min(image.width()) {
                let pixel = image.get_pixel_mut(x, height - 1 - y);
                let [red, green, blue, alpha] = pixel.0;
                *pixel = Rgba([255 - red, 255 - green, 255 - blue, alpha]);
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    match format {
        // JPEG has no alpha channel.
        ImageFormat::Jpeg => image::DynamicImage::ImageRgba8(image).to_rgb8().write_to(&mut out, format)?,
        _ => image.write_to(&mut out, ImageFormat::Png)?,
    }
    let format = if format == ImageFormat::Jpeg { ImageFormat::Jpeg } else { ImageFormat::Png };
    Ok((out.into_inner(), format))
}

/// Prepares one audit for `checker` from a random verified result of another owner, unless it has one waiting.
pub async fn create(db: &Db, store: &dyn ObjectStore, checker: &TokenNode, now_ms: i64) -> Result<(), VerifyError> {
    if db.open_audit_exists(checker.id).await? {
        return Ok(());
    }
    let Some(source) = db.audit_candidate(checker.owner).await? else { return Ok(()) };
    let info = db.job_render_info(source.job).await?.ok_or(VerifyError::NotFound)?;
    let spec = serde_json::from_str(&info.spec_json).map_err(|e| VerifyError::Corrupt(e.to_string()))?;
    let crops = crops_for(&spec, &[source.frame], source.tile_index, &ROUND_ONE, &[], rand::random::<f64>);
    let original = store.get(&ObjectPath::from(source.object_key.as_str())).await?.bytes().await?;
    let tamper_crops = crops.clone();
    let (bytes, format) = tokio::task::spawn_blocking(move || tamper(&original, &tamper_crops))
        .await
        .map_err(|e| VerifyError::Corrupt(e.to_string()))?
        .map_err(|e| VerifyError::Corrupt(e.to_string()))?;
    let extension = if format == ImageFormat::Jpeg { "jpg" } else { "png" };
    let key = format!("audits/{}.{extension}", uuid::Uuid::new_v4().simple());
    store.put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes)).await?;
    let crops_json = serde_json::to_string(&crops).map_err(|e| VerifyError::Corrupt(e.to_string()))?;
    db.create_audit(&source, &crops_json, checker.id, &key, now_ms).await?;
    tracing::info!(checker = %checker.id, task = %source.task, "audit prepared");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbaImage;
    use pictor_core::agent_protocol::TileRegion;

    #[test]
    fn only_the_crops_are_inverted() {
        let image = RgbaImage::from_pixel(10, 10, Rgba([10, 200, 30, 255]));
        let mut png = std::io::Cursor::new(Vec::new());
        image.write_to(&mut png, ImageFormat::Png).expect("png");
        let crop = Crop { frame: 1, region: TileRegion { min_x: 0, max_x: 2, min_y: 0, max_y: 2 } };
        let (bytes, format) = tamper(png.get_ref(), &[crop]).expect("tampered");
        assert_eq!(format, ImageFormat::Png);
        let out = image::load_from_memory(&bytes).expect("decodes").to_rgba8();
        assert_eq!(out.get_pixel(0, 9).0, [245, 55, 225, 255], "bottom-left is inverted");
        assert_eq!(out.get_pixel(5, 5).0, [10, 200, 30, 255], "the rest is untouched");
    }
}
