//! Checks every uploaded output gets before anyone re-renders anything: it decodes as the job's format, has the
//! job's size, and is not one flat colour where the job's area should show something (such a result is not refused —
//! a scene can be blank — but it is always sent to checkers).

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

/// Inspects one frame's output: `expected` is the job's output size, `area` the part this task rendered (Blender
/// coordinates, from the bottom left).
pub fn inspect(bytes: &[u8], format: OutputFormat, expected: (u32, u32), area: TileRegion) -> Inspection {
    let wanted = image_format(format);
    match image::guess_format(bytes) {
        Ok(found) if found == wanted => {}
        Ok(found) => return Inspection::Bad(format!("the output is {found:?}, not {}", format.label())),
        Err(_) => return Inspection::Bad(format!("the output is not a {} image", format.label())),
    }
    let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), wanted);
    if bytes.len() > MAX_DECODED_BYTES {
        return match reader.into_dimensions() {
            Ok(size) if size == expected => Inspection::Fine,
            Ok((w, h)) => Inspection::Bad(format!("the output is {w}×{h}, not {}×{}", expected.0, expected.1)),
            Err(error) => Inspection::Bad(format!("the output does not decode: {error}")),
        };
    }
    let image = match reader.decode() {
        Ok(image) => image,
        Err(error) => return Inspection::Bad(format!("the output does not decode: {error}")),
    };
    if image.dimensions() != expected {
        let (w, h) = image.dimensions();
        return Inspection::Bad(format!("the output is {w}×{h}, not {}×{}", expected.0, expected.1));
    }
    if is_uniform(&image, area) {
        Inspection::Uniform
    } else {
        Inspection::Fine
    }
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
}
