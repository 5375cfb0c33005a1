//! Checks every uploaded output gets before anyone re-renders anything: it decodes as the job's format, has the
//! job's size, and is not one flat colour where the job's area should show something (such a result is not refused —
//! a scene can be blank — but it is always sent to checkers). While the image is decoded, where it shows detail is
//! noted too, so that checks can look there.

use image::{DynamicImage, GenericImageView, ImageFormat};
use pictor_core::agent_protocol::TileRegion;
use pictor_core::jobs::OutputFormat;

/// What the cheap checks found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inspection {
    Fine,
    /// Decodes at the right size, but its area is one flat colour: always check it.
    Uniform,
    /// Not a valid output: the attempt fails with this reason.
    Bad(String),
}

/// Outputs larger than this are only checked for format and size (decoding them whole would cost too much here).
pub const MAX_DECODED_BYTES: usize = 256 << 20;

fn image_format(format: OutputFormat) -> ImageFormat {
    match format {
        OutputFormat::Png => ImageFormat::Png,
        OutputFormat::OpenExr => ImageFormat::OpenExr,
        OutputFormat::Jpeg => ImageFormat::Jpeg,
    }
}

/// An inspection, and the detail of the image per `cell`-sided square over the area (columns, rows, weights from the
/// bottom row) when it was decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspected {
    pub inspection: Inspection,
    pub detail: Option<(u32, u32, Vec<f64>)>,
}

/// Inspects one frame's output and measures its detail per cell of side `cell`.
pub fn inspect_with_detail(
    bytes: &[u8],
    format: OutputFormat,
    expected: (u32, u32),
    area: TileRegion,
    cell: u32,
) -> Inspected {
    match decode_checked(bytes, format, expected) {
        Err(inspection) => Inspected { inspection, detail: None },
        Ok(None) => Inspected { inspection: Inspection::Fine, detail: None },
        Ok(Some(image)) => {
            let inspection = if is_uniform(&image, area) { Inspection::Uniform } else { Inspection::Fine };
            Inspected { inspection, detail: Some(detail(&image, area, cell)) }
        }
    }
}

/// Inspects one frame's output: `expected` is the job's output size, `area` the part this task rendered (Blender
/// coordinates, from the bottom left).
pub fn inspect(bytes: &[u8], format: OutputFormat, expected: (u32, u32), area: TileRegion) -> Inspection {
    match decode_checked(bytes, format, expected) {
        Err(inspection) => inspection,
        Ok(None) => Inspection::Fine,
        Ok(Some(image)) if is_uniform(&image, area) => Inspection::Uniform,
        Ok(Some(_)) => Inspection::Fine,
    }
}

/// The decoded image if it has the right format and size (`None` when too large to decode here), or why not.
fn decode_checked(
    bytes: &[u8],
    format: OutputFormat,
    expected: (u32, u32),
) -> Result<Option<DynamicImage>, Inspection> {
    let wanted = image_format(format);
    match image::guess_format(bytes) {
        Ok(found) if found == wanted => {}
        Ok(found) => return Err(Inspection::Bad(format!("the output is {found:?}, not {}", format.label()))),
        Err(_) => return Err(Inspection::Bad(format!("the output is not a {} image", format.label()))),
    }
    let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), wanted);
    let wrong_size =
        |(w, h): (u32, u32)| Inspection::Bad(format!("the output is {w}×{h}, not {}×{}", expected.0, expected.1));
    if bytes.len() > MAX_DECODED_BYTES {
        return match reader.into_dimensions() {
            Ok(size) if size == expected => Ok(None),
            Ok(size) => Err(wrong_size(size)),
            Err(error) => Err(Inspection::Bad(format!("the output does not decode: {error}"))),
        };
    }
    let image = reader.decode().map_err(|error| Inspection::Bad(format!("the output does not decode: {error}")))?;
    if image.dimensions() != expected {
        return Err(wrong_size(image.dimensions()));
    }
    Ok(Some(image))
}

/// The variance of luminance in each `cell`-sided square of `area` (cells at its top and right edges may be
/// smaller), bottom row first.
fn detail(image: &DynamicImage, area: TileRegion, cell: u32) -> (u32, u32, Vec<f64>) {
    let cell = cell.max(1);
    let gray = image.to_luma32f();
    let height = gray.height();
    let columns = (area.max_x - area.min_x).div_ceil(cell);
    let rows = (area.max_y - area.min_y).div_ceil(cell);
    let mut weights = Vec::with_capacity((columns * rows) as usize);
    for row in 0..rows {
        for column in 0..columns {
            let (x0, y0) = (area.min_x + column * cell, area.min_y + row * cell);
            let (x1, y1) = ((x0 + cell).min(area.max_x), (y0 + cell).min(area.max_y));
            let (mut sum, mut squares, mut count) = (0.0_f64, 0.0_f64, 0.0_f64);
            for y in y0..y1.min(height) {
                for x in x0..x1.min(gray.width()) {
                    let value = f64::from(gray.get_pixel(x, height - 1 - y).0[0]);
                    sum += value;
                    squares += value * value;
                    count += 1.0;
                }
            }
            let variance = if count > 0.0 { (squares / count - (sum / count).powi(2)).max(0.0) } else { 0.0 };
            weights.push(variance);
        }
    }
    (columns, rows, weights)
}

/// Whether every pixel of `area` has the same value.
fn is_uniform(image: &DynamicImage, area: TileRegion) -> bool {
    let rgba = image.to_rgba32f();
    let height = rgba.height();
    let mut first = None;
    for y in area.min_y..area.max_y.min(height) {
        let row = height - 1 - y;
        for x in area.min_x..area.max_x.min(rgba.width()) {
            let pixel = rgba.get_pixel(x, row).0;
            match first {
                None => first = Some(pixel),
                Some(seen) if seen != pixel => return false,
                Some(_) => {}
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbaImage};

    fn png(image: &RgbaImage) -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, ImageFormat::Png).expect("png");
        bytes.into_inner()
    }

    fn whole(width: u32, height: u32) -> TileRegion {
        TileRegion { min_x: 0, max_x: width, min_y: 0, max_y: height }
    }

    #[test]
    fn a_rendered_looking_image_is_fine_and_a_flat_one_is_sent_to_checkers() {
        let mut image = RgbaImage::from_pixel(16, 9, Rgba([10, 20, 30, 255]));
        assert_eq!(inspect(&png(&image), OutputFormat::Png, (16, 9), whole(16, 9)), Inspection::Uniform);
        image.put_pixel(3, 3, Rgba([200, 20, 30, 255]));
        assert_eq!(inspect(&png(&image), OutputFormat::Png, (16, 9), whole(16, 9)), Inspection::Fine);
        // Only the task's own area counts: a tile whose area is flat is suspicious even if the rest is not.
        let tile = TileRegion { min_x: 8, max_x: 16, min_y: 0, max_y: 4 };
        assert_eq!(inspect(&png(&image), OutputFormat::Png, (16, 9), tile), Inspection::Uniform);
    }

    #[test]
    fn detail_is_measured_where_the_image_varies() {
        // 16×8: flat, but for a checkerboard in the top-right 8×8 cell (Blender's cell column 1, row 0 from the
        // bottom is the lower half; the top half is row 0 of the image).
        let image = RgbaImage::from_fn(16, 8, |x, y| {
            let busy = x >= 8 && (x + y) % 2 == 0;
            if busy {
                Rgba([255, 255, 255, 255])
            } else {
                Rgba([0, 0, 0, 255])
            }
        });
        let inspected = inspect_with_detail(&png(&image), OutputFormat::Png, (16, 8), whole(16, 8), 8);
        assert_eq!(inspected.inspection, Inspection::Fine);
        let (columns, rows, weights) = inspected.detail.expect("decoded");
        assert_eq!((columns, rows), (2, 1));
        assert_eq!(weights[0], 0.0);
        assert!(weights[1] > 0.2, "{weights:?}");
    }

    #[test]
    fn a_wrong_size_format_or_garbage_is_bad() {
        let image = RgbaImage::from_pixel(16, 9, Rgba([1, 2, 3, 255]));
        let wrong_size = inspect(&png(&image), OutputFormat::Png, (32, 18), whole(32, 18));
        assert!(matches!(&wrong_size, Inspection::Bad(why) if why.contains("16×9")), "{wrong_size:?}");
        let wrong_format = inspect(&png(&image), OutputFormat::Jpeg, (16, 9), whole(16, 9));
        assert!(matches!(&wrong_format, Inspection::Bad(why) if why.contains("Png")), "{wrong_format:?}");
        let garbage = inspect(b"\x89PNG\r\n\x1a\nnot really", OutputFormat::Png, (16, 9), whole(16, 9));
        assert!(matches!(&garbage, Inspection::Bad(why) if why.contains("decode")), "{garbage:?}");
        assert!(matches!(inspect(b"hello", OutputFormat::Png, (16, 9), whole(16, 9)), Inspection::Bad(_)));
    }

    /// Fuzzed: random bytes, and a real PNG with bytes flipped, are inspected (refused or judged) without a panic,
    /// in every output format.
    #[test]
    fn any_output_bytes_are_inspected_never_a_panic() {
        use proptest::prelude::*;
        let valid = png(&RgbaImage::from_fn(16, 9, |x, y| Rgba([(x * 16) as u8, (y * 28) as u8, 90, 255])));
        let mutated = prop::collection::vec((0..valid.len(), any::<u8>()), 1..8).prop_map(move |flips| {
            let mut bytes = valid.clone();
            for (at, value) in flips {
                bytes[at] = value;
            }
            bytes
        });
        let bytes = prop_oneof![prop::collection::vec(any::<u8>(), 0..512), mutated];
        let formats = prop::sample::select(vec![OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::OpenExr]);
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(bytes, formats), |(bytes, format)| {
                let _ = inspect_with_detail(&bytes, format, (16, 9), whole(16, 9), 4);
                Ok(())
            })
            .expect("no panic");
        eprintln!("output images: {} inputs", runner.config().cases);
    }
}
