//! Datasets of images as rows of pixels: a CSV whose rows are pixel values then an integer label (scikit-learn's
//! `digits.csv.gz` is one), validated with errors that name the line, and split into training and held-out rows.

use super::dataset::split_rows;

/// The most rows and columns a dataset may have (a guard against files meant to exhaust a worker).
pub const MAX_ROWS: usize = 200_000;
pub const MAX_PIXELS: usize = 4096;
pub const MAX_CLASSES: usize = 256;

/// A validated dataset: `pixels` holds `rows × inputs` values scaled to [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct PixelTable {
    pub inputs: usize,
    pub classes: usize,
    pub pixels: Vec<f32>,
    pub labels: Vec<u32>,
    /// What the pixels were divided by (the largest value in the file, at least 1): a served model divides by it too.
    pub scale: f32,
}

impl PixelTable {
    /// Reads a CSV (an optional header row, then `pixel,…,pixel,label` rows; blank lines ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut inputs = None;
        let mut raw: Vec<f32> = Vec::new();
        let mut labels = Vec::new();
        for (number, line) in text.lines().enumerate().map(|(index, line)| (index + 1, line.trim())) {
            if line.is_empty() {
                continue;
            }
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let Some((label, values)) = cells.split_last() else { continue };
            let parsed: Result<Vec<f32>, _> = values.iter().map(|cell| cell.parse::<f32>()).collect();
            let Ok(values) = parsed else {
                if number == 1 && labels.is_empty() {
                    continue; // a header row
                }
                return Err(format!("line {number}: every pixel must be a number"));
            };
            if values.iter().any(|value| !value.is_finite() || *value < 0.0) {
                return Err(format!("line {number}: pixels must be finite and not negative"));
            }
            let label: u32 = label
                .parse::<u32>()
                .ok()
                .or_else(|| label.parse::<f32>().ok().filter(|v| v.fract() == 0.0 && *v >= 0.0).map(|v| v as u32))
                .ok_or_else(|| format!("line {number}: the last column (the label) must be a whole number"))?;
            if label as usize >= MAX_CLASSES {
                return Err(format!("line {number}: labels must be below {MAX_CLASSES}"));
            }
            match inputs {
                None if values.is_empty() || values.len() > MAX_PIXELS => {
                    return Err(format!("line {number}: a row needs 1 to {MAX_PIXELS} pixels before its label"));
                }
                None => inputs = Some(values.len()),
                Some(expected) if expected != values.len() => {
                    return Err(format!("line {number}: {} pixels where earlier rows have {expected}", values.len()));
                }
                Some(_) => {}
            }
            if labels.len() == MAX_ROWS {
                return Err(format!("more than {MAX_ROWS} rows"));
            }
            raw.extend(values);
            labels.push(label);
        }
        let inputs = inputs.ok_or("the dataset has no rows")?;
        if labels.len() < 10 {
            return Err(format!("{} rows: a run needs at least 10", labels.len()));
        }
        let classes = labels.iter().max().map_or(0, |max| *max as usize + 1);
        if classes < 2 {
            return Err("every row has the same label: a classifier needs at least two".into());
        }
        let scale = raw.iter().copied().fold(0.0f32, f32::max).max(1.0);
        let pixels = raw.into_iter().map(|value| value / scale).collect();
        Ok(Self { inputs, classes, pixels, labels, scale })
    }

    pub fn rows(&self) -> usize {
        self.labels.len()
    }

    /// The row numbers of the training and held-out splits, drawn from the run's seed.
    pub fn split(&self, seed: u64) -> (Vec<u32>, Vec<u32>) {
        split_rows(self.rows(), seed)
    }

    /// The pixels of `rows`, one after the other.
    pub fn gather(&self, rows: &[u32]) -> (Vec<f32>, Vec<u32>) {
        let mut pixels = Vec::with_capacity(rows.len() * self.inputs);
        let mut labels = Vec::with_capacity(rows.len());
        for row in rows {
            let start = *row as usize * self.inputs;
            pixels.extend_from_slice(&self.pixels[start..start + self.inputs]);
            labels.push(self.labels[*row as usize]);
        }
        (pixels, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(count: usize) -> String {
        (0..count).map(|i| format!("{},{},{}\n", i % 17, 16 - i % 17, i % 3)).collect()
    }

    #[test]
    fn reads_rows_scaled_and_skips_a_header() {
        let table = PixelTable::parse(&format!("a,b,label\n{}", rows(12))).expect("valid");
        assert_eq!((table.inputs, table.classes, table.rows()), (2, 3, 12));
        assert!(table.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(table.pixels[1], 1.0, "16 is the largest pixel");
    }

    #[test]
    fn bad_rows_are_named_by_line() {
        let ragged = format!("{}1,2,3,1\n", rows(11));
        assert!(PixelTable::parse(&ragged).unwrap_err().contains("line 12: 3 pixels"));
        let word = format!("{}1,x,1\n", rows(11));
        assert!(PixelTable::parse(&word).unwrap_err().contains("line 12"));
        let label = format!("{}1,2,0.5\n", rows(11));
        assert!(PixelTable::parse(&label).unwrap_err().contains("label"));
        let negative = format!("{}-1,2,1\n", rows(11));
        assert!(PixelTable::parse(&negative).unwrap_err().contains("negative"));
        assert!(PixelTable::parse("").unwrap_err().contains("no rows"));
        assert!(PixelTable::parse(&rows(5)).unwrap_err().contains("at least 10"));
        let one_class: String = (0..12).map(|i| format!("{i},1,0\n")).collect();
        assert!(PixelTable::parse(&one_class).unwrap_err().contains("two"));
    }

    #[test]
    fn the_split_is_a_partition_fixed_by_the_seed() {
        let table = PixelTable::parse(&rows(100)).expect("valid");
        let (train, held_out) = table.split(5);
        assert_eq!((train.len(), held_out.len()), (80, 20));
        let mut all: Vec<u32> = train.iter().chain(&held_out).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(table.split(5), (train, held_out.clone()));
        assert_ne!(table.split(6).1, held_out);
    }
}
