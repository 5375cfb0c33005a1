//! Renders one frame of a leased task with Blender: the command line, the settings script, and a cancellable run
//! that publishes progress while it reads Blender's output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use pictor_core::agent_protocol::{RenderSettings, TileRegion};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::blender::BlenderVersion;
use crate::render_log::RenderLog;
use crate::sandbox::{Confinement, Sandbox};

/// The settings script's source as a literal, so the checker's crop script can start with the very same lines
/// (`concat!` takes literals only): a check re-renders exactly as the worker rendered.
#[macro_export]
macro_rules! settings_script {
    () => {
        r#"import os, bpy
env = os.environ
scene = bpy.context.scene
render = scene.render
# Nothing outside the task: a file the scene names but did not pack is refused by name (the sandbox hides the
# worker's files anyway; this says what to fix).
external = []
def outside(kind, block, path):
    external.append('%s "%s" (%s)' % (kind, block.name, path))
for block in bpy.data.images:
    if block.source in {'FILE', 'SEQUENCE', 'MOVIE', 'TILED'} and block.packed_file is None and block.users:
        outside('image', block, block.filepath)
for block in bpy.data.sounds:
    if block.packed_file is None and block.users:
        outside('sound', block, block.filepath)
for block in bpy.data.fonts:
    if block.filepath != '<builtin>' and block.packed_file is None and block.users:
        outside('font', block, block.filepath)
for block in bpy.data.volumes:
    if block.packed_file is None and block.users:
        outside('volume', block, block.filepath)
for block in list(bpy.data.movieclips) + list(bpy.data.cache_files):
    if block.users:
        outside('movie clip or cache', block, block.filepath)
for block in bpy.data.libraries:
    if block.packed_file is None:
        outside('linked library', block, block.filepath)
if external:
    raise RuntimeError('the scene uses files it did not pack: ' + '; '.join(external)
                       + '. In Blender: File > External Data > Pack Resources (and make linked data local), then upload it again')
# Outputs go only where Pictor says: File Output nodes are removed, simulation caches stay in memory.
for tree in [s.node_tree for s in bpy.data.scenes if s.node_tree] + [g for g in bpy.data.node_groups if g.bl_idname == 'CompositorNodeTree']:
    for node in [n for n in tree.nodes if n.bl_idname == 'CompositorNodeOutputFile']:
        tree.nodes.remove(node)
for obj in bpy.data.objects:
    for cache in [getattr(m, 'point_cache', None) for m in obj.modifiers] + [p.point_cache for p in obj.particle_systems]:
        if cache is not None:
            cache.use_disk_cache = False
render.engine = env['PICTOR_ENGINE']
render.resolution_x = int(env['PICTOR_RESOLUTION_X'])
render.resolution_y = int(env['PICTOR_RESOLUTION_Y'])
render.resolution_percentage = int(env['PICTOR_RESOLUTION_PERCENT'])
samples = int(env['PICTOR_SAMPLES'])
# Some builds (Debian's) lack OpenImageDenoise and fail a denoised render; results must not depend on the build.
if hasattr(scene, 'cycles'):
    scene.cycles.use_denoising = False
    if render.engine == 'CYCLES':
        scene.cycles.samples = samples
if render.engine.startswith('BLENDER_EEVEE'):
    scene.eevee.taa_render_samples = samples
render.image_settings.file_format = env['PICTOR_FILE_FORMAT']
# Dithering adds random noise when writing 8-bit images: it would make two renders of one pixel differ, and
# checkers compare pixels.
render.dither_intensity = 0.0
tile = env.get('PICTOR_TILE', '')
if tile:
    render.use_border = True
    # The full-size image with only the tile rendered, so the coordinator can composite tiles by position.
    render.use_crop_to_border = False
    render.border_min_x, render.border_max_x, render.border_min_y, render.border_max_y = map(float, tile.split(','))
else:
    render.use_border = False
"#
    };
}

/// Applied after the scene is loaded and before the frame renders. The job's values come in through the
/// environment, so nothing from the network is ever spliced into Python source.
pub const SETTINGS_SCRIPT: &str = settings_script!();

/// The name Blender gives outputs: `frame_0005.png` for frame 5 (`#` is replaced by the zero-padded frame).
const OUTPUT_PATTERN: &str = "frame_####";

/// One frame to render.
pub struct FrameJob<'a> {
    /// How Blender is started: boxed to the scene and `out_dir`.
    pub sandbox: &'a Sandbox,
    pub blender: &'a Path,
    pub version: BlenderVersion,
    pub scene: &'a Path,
    /// An empty directory: the one file Blender writes there is the output.
    pub out_dir: &'a Path,
    pub frame: i64,
    pub settings: &'a RenderSettings,
    pub tile: Option<TileRegion>,
}

/// Live state of a render, published for the progress reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    /// 0–1 of this frame.
    pub fraction: f32,
    pub log_tail: String,
}

#[derive(Debug)]
pub struct Rendered {
    pub output: PathBuf,
    pub elapsed: Duration,
    pub log_tail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("Blender could not be started: {0}")]
    Spawn(std::io::Error),
    #[error("reading Blender's output failed: {0}")]
    Io(std::io::Error),
    #[error("{message}")]
    Failed { message: String, log_tail: String },
    #[error("rendering was cancelled")]
    Cancelled,
}

impl RenderError {
    pub fn log_tail(&self) -> &str {
        match self {
            Self::Failed { log_tail, .. } => log_tail,
            _ => "",
        }
    }
}

/// Blender's arguments, in the order it applies them: load the scene, run the settings script (exiting non-zero if
/// it raises), set the output path and format, then render the frame. `--disable-autoexec` keeps scripts embedded in
/// the scene from running on the worker's machine.
pub fn arguments(job: &FrameJob) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-b", "--disable-autoexec"].map(OsString::from).into();
    args.push(job.scene.into());
    args.extend(["--python-exit-code", "1", "--python-expr", SETTINGS_SCRIPT].map(OsString::from));
    args.push("-o".into());
    args.push(job.out_dir.join(OUTPUT_PATTERN).into());
    args.extend(["-F".into(), job.settings.file_format.clone().into(), "-f".into(), job.frame.to_string().into()]);
    args
}

/// The settings script's inputs.
pub fn script_env(
    settings: &RenderSettings,
    tile: Option<TileRegion>,
    version: BlenderVersion,
) -> Vec<(&'static str, String)> {
    let engine = match settings.engine.as_str() {
        // The job names EEVEE either way; this Blender knows it by one name only.
        "BLENDER_EEVEE" | "BLENDER_EEVEE_NEXT" => version.eevee_engine_id().to_owned(),
        other => other.to_owned(),
    };
    let border = tile.map(|t| border_fractions(t, output_size(settings)));
    vec![
        ("PICTOR_ENGINE", engine),
        ("PICTOR_RESOLUTION_X", settings.resolution_x.to_string()),
        ("PICTOR_RESOLUTION_Y", settings.resolution_y.to_string()),
        ("PICTOR_RESOLUTION_PERCENT", settings.resolution_percent.to_string()),
        ("PICTOR_SAMPLES", settings.samples.to_string()),
        ("PICTOR_FILE_FORMAT", settings.file_format.clone()),
        ("PICTOR_TILE", border.map(|b| b.map(|f| f.to_string()).join(",")).unwrap_or_default()),
    ]
}

/// The image size Blender renders: the resolution scaled by the percentage, rounded down as Blender does.
pub fn output_size(settings: &RenderSettings) -> (u32, u32) {
    let scale = |n: u32| (u64::from(n) * u64::from(settings.resolution_percent) / 100) as u32;
    (scale(settings.resolution_x), scale(settings.resolution_y))
}

/// A tile's pixel region as Blender's border: `[min_x, max_x, min_y, max_y]` as fractions of the output size,
/// both measured from the bottom left like the region.
pub fn border_fractions(tile: TileRegion, (width, height): (u32, u32)) -> [f64; 4] {
    let frac = |px: u32, size: u32| if size == 0 { 0.0 } else { (f64::from(px) / f64::from(size)).clamp(0.0, 1.0) };
    [frac(tile.min_x, width), frac(tile.max_x, width), frac(tile.min_y, height), frac(tile.max_y, height)]
}

/// Renders the frame; `live` gets the progress and log tail as Blender prints them. `cancel` kills Blender's whole
/// process group at once (and so does dropping the future).
pub async fn render_frame(
    job: &FrameJob<'_>,
    live: &watch::Sender<Live>,
    cancel: &CancellationToken,
) -> Result<Rendered, RenderError> {
    let started = Instant::now();
    // The scene sees nothing of the worker's but itself, and writes only into the frame's folder.
    let confinement = Confinement { readable: &[job.scene], writable: &[job.out_dir] };
    let mut command = job.sandbox.command(job.blender, &confinement);
    command
        .args(arguments(job))
        .envs(script_env(job.settings, job.tile, job.version))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that one kill also reaches whatever Blender started.
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command.spawn().map_err(RenderError::Spawn)?;
    let group = ProcessGroup(child.id());
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RenderError::Io(std::io::Error::other("Blender's output is not piped")));
    };

    let mut log = RenderLog::default();
    let read = read_output(stdout, stderr, &mut log, live);
    tokio::select! {
        result = read => result.map_err(RenderError::Io)?,
        () = cancel.cancelled() => {
            drop(group);
            let _ = child.wait().await;
            return Err(RenderError::Cancelled);
        }
    }
    let status = tokio::select! {
        status = child.wait() => status.map_err(RenderError::Io)?,
        () = cancel.cancelled() => return Err(RenderError::Cancelled),
    };
    // Helpers Blender may have left behind go with it.
    drop(group);
    let log_tail = log.tail();
    if !status.success() {
        let message = match log.first_error() {
            Some(error) => format!("Blender failed ({status}): {error}"),
            None => format!("Blender failed ({status}): {}", crate::exec::last_line(&log_tail)),
        };
        return Err(RenderError::Failed { message, log_tail });
    }
    let output =
        single_file(job.out_dir).map_err(|message| RenderError::Failed { message, log_tail: log_tail.clone() })?;
    Ok(Rendered { output, elapsed: started.elapsed(), log_tail })
}

/// Reads stdout and stderr line by line until both close (Blender writes progress to one, Python errors to the
/// other); lines need not be UTF-8.
async fn read_output(
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
    log: &mut RenderLog,
    live: &watch::Sender<Live>,
) -> std::io::Result<()> {
    let mut out = BufReader::new(stdout).split(b'\n');
    let mut err = BufReader::new(stderr).split(b'\n');
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let line = tokio::select! {
            line = out.next_segment(), if out_open => line?.or_else(|| { out_open = false; None }),
            line = err.next_segment(), if err_open => line?.or_else(|| { err_open = false; None }),
        };
        if let Some(line) = line {
            log.push(&String::from_utf8_lossy(&line));
            live.send_replace(Live { fraction: log.fraction(), log_tail: log.tail() });
        }
    }
    Ok(())
}

/// The one file Blender wrote; its exact name depends on the frame number's padding and sign.
fn single_file(dir: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    match files.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("Blender exited without writing the frame".into()),
        many => Err(format!("Blender wrote {} files instead of one", many.len())),
    }
}

/// Kills the whole process group when dropped; the group id is the leader's pid (`process_group(0)`).
struct ProcessGroup(Option<u32>);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.0.and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) takes plain integers and has no memory effects; a group that is already gone only
            // yields ESRCH, which is ignored.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
pub(crate) mod tests;
