//! Re-rendering crops for checks: one Blender process per scene and settings, kept running between checks and
//! fed one crop at a time on its standard input, so a check costs the crop's render and not Blender's start-up and
//! scene load (which dwarf a 1 %-sided crop).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use pictor_core::agent_protocol::{RenderSettings, TileRegion};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::blender::BlenderVersion;
use crate::render::{output_size, script_env, RenderError};
use crate::sandbox::{Confinement, Sandbox};

/// Applies the job's settings with the worker's own settings script, line for line, then renders each requested crop
/// as a border render cropped to the border. Blender truncates `fraction × size` to whole pixels, so a quarter pixel
/// is added to land exactly on the requested pixel edges.
pub const CROP_SERVER_SCRIPT: &str = concat!(
    crate::settings_script!(),
    r#"import sys, json
render.use_border = True
render.use_crop_to_border = True
render.use_persistent_data = True
width = render.resolution_x * render.resolution_percentage // 100
height = render.resolution_y * render.resolution_percentage // 100
print('PICTOR_READY', flush=True)
for line in sys.stdin:
    crop = json.loads(line)
    scene.frame_set(crop['frame'])
    render.border_min_x = (crop['min_x'] + 0.25) / width
    render.border_max_x = (crop['max_x'] + 0.25) / width
    render.border_min_y = (crop['min_y'] + 0.25) / height
    render.border_max_y = (crop['max_y'] + 0.25) / height
    render.filepath = crop['out']
    bpy.ops.render.render(write_still=True)
    print('PICTOR_DONE', flush=True)
"#
);

/// How long a warm Blender waits for the next crop before it is stopped.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);

/// A running Blender for one scene and one set of render settings.
pub struct CropRenderer {
    key: String,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub last_used: Instant,
}

/// What identifies a warm renderer: the same scene rendered with the same settings.
pub fn renderer_key(scene_sha256: &str, settings: &RenderSettings) -> String {
    format!("{scene_sha256}:{}", serde_json::to_string(settings).unwrap_or_default())
}

impl CropRenderer {
    /// Starts Blender on `scene`, boxed by `sandbox` to the scene and `crops_dir`, where every crop must go.
    pub async fn start(
        sandbox: &Sandbox,
        blender: &Path,
        version: BlenderVersion,
        scene: &Path,
        crops_dir: &Path,
        settings: &RenderSettings,
        key: String,
    ) -> Result<Self, RenderError> {
        let mut command = sandbox.command(blender, &Confinement { readable: &[scene], writable: &[crops_dir] });
        command
            .args(["-b", "--disable-autoexec"])
            .arg(scene)
            .args(["--python-exit-code", "1", "--python-expr", CROP_SERVER_SCRIPT])
            .envs(script_env(settings, None, version))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().map_err(RenderError::Spawn)?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(RenderError::Io(std::io::Error::other("Blender's pipes are missing")));
        };
        let mut renderer = Self { key, child, stdin, lines: BufReader::new(stdout).lines(), last_used: Instant::now() };
        renderer.wait_for("PICTOR_READY").await?;
        Ok(renderer)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Renders `region` of `frame` into `out` (the crop only) and returns Blender's time for it.
    pub async fn render(&mut self, frame: i64, region: TileRegion, out: &Path) -> Result<Duration, RenderError> {
        let started = Instant::now();
        let request = serde_json::json!({
            "frame": frame, "min_x": region.min_x, "max_x": region.max_x, "min_y": region.min_y,
            "max_y": region.max_y, "out": out.display().to_string(),
        });
        let line = format!("{request}\n");
        self.stdin.write_all(line.as_bytes()).await.map_err(RenderError::Io)?;
        self.stdin.flush().await.map_err(RenderError::Io)?;
        self.wait_for("PICTOR_DONE").await?;
        self.last_used = Instant::now();
        Ok(started.elapsed())
    }

    /// Reads Blender's output up to `marker`; an end of output means Blender stopped (a script error, a crash).
    async fn wait_for(&mut self, marker: &str) -> Result<(), RenderError> {
        let mut last = String::new();
        loop {
            match self.lines.next_line().await.map_err(RenderError::Io)? {
                Some(line) if line.trim() == marker => return Ok(()),
                Some(line) => {
                    if crate::render_log::blender_error(&line).is_some() || line.contains("Error") {
                        last = line;
                    }
                }
                None => {
                    let status = self.child.wait().await.map_err(RenderError::Io)?;
                    let message = if last.is_empty() { format!("Blender stopped ({status})") } else { last };
                    return Err(RenderError::Failed { message, log_tail: String::new() });
                }
            }
        }
    }
}

/// The size of the image a check compares against (the job's output size).
pub fn full_size(settings: &RenderSettings) -> (u32, u32) {
    output_size(settings)
}

/// Where crop `index` of a check is written.
pub fn crop_file(dir: &Path, verification_id: i64, index: usize, extension: &str) -> PathBuf {
    dir.join(format!("check-{verification_id}-crop-{index}.{extension}"))
}
