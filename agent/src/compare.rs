//! Comparing a re-rendered crop with the same pixels of the worker's output: structural similarity (SSIM, from the
//! `image-compare` crate) and the mean absolute difference, on 8-bit RGB.

use std::path::Path;

use image::RgbImage;
use image_compare::Algorithm;
use pictor_core::agent_protocol::TileRegion;
use pictor_core::verification::CropMeasurement;

/// The pixels of `region` (Blender coordinates, from the bottom left) cut out of an image.
pub fn cut(image: &RgbImage, region: TileRegion) -> Result<RgbImage, String> {
    let (width, height) = image.dimensions();
    if region.max_x > width || region.max_y > height || region.min_x >= region.max_x || region.min_y >= region.max_y {
        return Err(format!("crop {region:?} is outside the {width}×{height} image"));
    }
    let top = height - region.max_y;
    Ok(image::imageops::crop_imm(image, region.min_x, top, region.max_x - region.min_x, region.max_y - region.min_y)
        .to_image())
}

/// SSIM and mean absolute difference of two images of one size.
pub fn measure(expected: &RgbImage, found: &RgbImage) -> Result<CropMeasurement, String> {
    if expected.dimensions() != found.dimensions() {
        return Err(format!("sizes differ: {:?} and {:?}", expected.dimensions(), found.dimensions()));
    }
    let ssim = image_compare::rgb_similarity_structure(&Algorithm::MSSIMSimple, expected, found)
        .map_err(|e| e.to_string())?
        .score;
    let total: u64 = expected.as_raw().iter().zip(found.as_raw()).map(|(a, b)| u64::from(a.abs_diff(*b))).sum();
    let mean_abs_diff = total as f64 / expected.as_raw().len().max(1) as f64;
    Ok(CropMeasurement { ssim, mean_abs_diff })
}

/// Compares the re-rendered crop at `crop_path` with the worker's image at `output_path`, which must have the
/// job's output size.
pub fn compare_files(
    output_path: &Path,
    crop_path: &Path,
    region: TileRegion,
    output_size: (u32, u32),
) -> Result<CropMeasurement, String> {
    let output = image::open(output_path).map_err(|e| format!("the worker's output does not decode: {e}"))?.to_rgb8();
    if output.dimensions() != output_size {
        return Err(format!("the worker's output is {:?}, not {output_size:?}", output.dimensions()));
    }
    let crop = image::open(crop_path).map_err(|e| format!("the re-rendered crop does not decode: {e}"))?.to_rgb8();
    measure(&cut(&output, region)?, &crop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn gradient(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| Rgb([(x * 9) as u8, (y * 13) as u8, ((x + y) * 5) as u8]))
    }

    #[test]
    fn cutting_counts_rows_from_the_bottom_like_blender() {
        let image = gradient(20, 10);
        let piece = cut(&image, TileRegion { min_x: 2, max_x: 5, min_y: 0, max_y: 2 }).expect("inside");
        assert_eq!(piece.dimensions(), (3, 2));
        assert_eq!(piece.get_pixel(0, 1), image.get_pixel(2, 9), "the bottom row of the crop is the image's last");
        assert!(cut(&image, TileRegion { min_x: 18, max_x: 21, min_y: 0, max_y: 2 }).is_err());
    }

    #[test]
    fn the_same_pixels_score_one_and_noise_scores_less() {
        let image = gradient(16, 16);
        let same = measure(&image, &image).expect("measured");
        assert!((same.ssim - 1.0).abs() < 1e-9 && same.mean_abs_diff == 0.0, "{same:?}");
        let mut state = 1_u32;
        let noisy = RgbImage::from_fn(16, 16, |x, y| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let jitter = (state >> 16) as u8 % 61;
            let p = image.get_pixel(x, y).0;
            Rgb([p[0].saturating_add(jitter), p[1].saturating_sub(jitter), p[2] ^ jitter])
        });
        let worse = measure(&image, &noisy).expect("measured");
        assert!(worse.ssim < 0.9 && worse.mean_abs_diff > 5.0, "{worse:?}");
        assert!(measure(&image, &gradient(8, 8)).is_err());
    }
}
