//! Tiled jobs: the tiles (Blender border renders of the full frame, uncropped) put back together into one image.

use image::{ImageFormat, RgbaImage};
use pictor_core::jobs::Tile;

#[derive(Debug, thiserror::Error)]
pub enum StitchError {
    #[error("tile {0} has not been rendered yet")]
    Missing(u32),
    #[error("tile {index} is {width}×{height}, not the frame's {expected_width}×{expected_height}")]
    WrongSize { index: u32, width: u32, height: u32, expected_width: u32, expected_height: u32 },
    #[error("cannot read or write the image: {0}")]
    Image(#[from] image::ImageError),
}

/// Copies each tile's region out of its render into one `width`×`height` image. `renders[i]` is the encoded output
/// of tile `i`. Blender counts border rows from the bottom; images count rows from the top.
pub fn stitch(width: u32, height: u32, tiles: &[Tile], renders: &[Option<Vec<u8>>]) -> Result<RgbaImage, StitchError> {
    let mut frame = RgbaImage::new(width, height);
    for tile in tiles {
        let encoded =
            renders.get(tile.index as usize).and_then(Option::as_ref).ok_or(StitchError::Missing(tile.index))?;
        let render = image::load_from_memory(encoded)?.to_rgba8();
        if render.dimensions() != (width, height) {
            return Err(StitchError::WrongSize {
                index: tile.index,
                width: render.width(),
                height: render.height(),
                expected_width: width,
                expected_height: height,
            });
        }
        for y in tile.min_y..tile.max_y {
            let row = height - 1 - y;
            for x in tile.min_x..tile.max_x {
                frame.put_pixel(x, row, *render.get_pixel(x, row));
            }
        }
    }
    Ok(frame)
}

/// The stitched frame as a PNG.
pub fn encode_png(frame: &RgbaImage) -> Result<Vec<u8>, StitchError> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    frame.write_to(&mut bytes, ImageFormat::Png)?;
    Ok(bytes.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;
    use pictor_core::jobs::tiles;

    /// A full-size render in which only `tile` is painted (as Blender's uncropped border render leaves it).
    fn render_of(width: u32, height: u32, tile: &Tile, colour: [u8; 4]) -> Vec<u8> {
        let mut image = RgbaImage::new(width, height);
        for y in tile.min_y..tile.max_y {
            for x in tile.min_x..tile.max_x {
                image.put_pixel(x, height - 1 - y, Rgba(colour));
            }
        }
        encode_png(&image).expect("png")
    }

    #[test]
    fn each_tile_fills_its_own_region() {
        let (width, height) = (40, 30);
        let grid = tiles(width, height, 4);
        let colours = [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 255, 0, 255]];
        let renders: Vec<Option<Vec<u8>>> =
            grid.iter().zip(colours).map(|(tile, colour)| Some(render_of(width, height, tile, colour))).collect();
        let frame = stitch(width, height, &grid, &renders).expect("stitched");
        for (tile, colour) in grid.iter().zip(colours) {
            let (x, y) = (tile.min_x, height - 1 - tile.min_y);
            assert_eq!(frame.get_pixel(x, y).0, colour, "tile {}", tile.index);
        }
        assert!(frame.pixels().all(|pixel| pixel.0[3] == 255), "no hole left");
    }

    #[test]
    fn a_missing_or_wrongly_sized_tile_is_an_error() {
        let grid = tiles(20, 20, 2);
        let whole = Some(render_of(20, 20, &grid[0], [1, 2, 3, 255]));
        assert!(matches!(stitch(20, 20, &grid, &[whole.clone(), None]), Err(StitchError::Missing(1))));
        let small = Some(render_of(10, 10, &tiles(10, 10, 1)[0], [1, 2, 3, 255]));
        assert!(matches!(stitch(20, 20, &grid, &[whole, small]), Err(StitchError::WrongSize { index: 1, .. })));
    }
}
