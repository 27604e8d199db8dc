//! Progress on stderr for runs that take more than a moment: a spinner saying what day2 is doing (files read,
//! the analyzer running, the report being written).
//!
//! The engine and the sources announce their stages as `tracing` events with the target `day2::progress` (a `stage`
//! field, or `file` for each input file read); this layer turns them into the spinner, so no progress type crosses the
//! crates. It draws only on a terminal, only once a run has lasted [`DEFAULT_DELAY`] (`DAY2_PROGRESS_DELAY_MS`
//! changes it), never together with log lines (`-v`, `DAY2_LOG`), and clears itself before the report is printed.

use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How long a run lasts before its progress shows: shorter runs print nothing extra.
const DEFAULT_DELAY: Duration = Duration::from_secs(2);

/// The target of progress events.
pub const TARGET: &str = day2_collect::source::PROGRESS;

static SPINNER: OnceLock<Spinner> = OnceLock::new();

struct Spinner {
    bar: ProgressBar,
    /// Dropped (closed) when the run finishes, so the thread waiting to show the spinner stops waiting.
    stop_waiting: std::sync::Mutex<Option<mpsc::Sender<()>>>,
    /// The line for a stage: what is happening.
    stage_style: ProgressStyle,
    /// The line while files are read: their count, drawn from the bar's position.
    reading_style: ProgressStyle,
}

/// The layer to add to the subscriber, or `None` when stderr is not a terminal.
pub fn layer() -> Option<ProgressLayer> {
    use std::io::IsTerminal;
    // A dumb terminal cannot redraw a line: every frame would be a new one.
    if !std::io::stderr().is_terminal() || std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
        return None;
    }
    let delay = std::env::var("DAY2_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_DELAY);
    let (Ok(stage_style), Ok(reading_style)) = (
        ProgressStyle::with_template("{spinner} {elapsed} {msg}"),
        ProgressStyle::with_template("{spinner} {elapsed} reading files: {pos} read"),
    ) else {
        return None;
    };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden()).with_style(stage_style.clone());
    bar.set_message("starting");
    let (stop, stopped) = mpsc::channel::<()>();
    let spinner = SPINNER.get_or_init(|| Spinner {
        bar,
        stop_waiting: std::sync::Mutex::new(Some(stop)),
        stage_style,
        reading_style,
    });
    let bar = spinner.bar.clone();
    if delay.is_zero() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(120));
        return Some(ProgressLayer);
    }
    std::thread::spawn(move || {
        // Nothing is ever sent: the sender is dropped when the run finishes, which ends the wait early.
        if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(delay) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    });
    Some(ProgressLayer)
}

/// Clears the spinner for good (before the report is written, and at exit).
pub fn finish() {
    if let Some(spinner) = SPINNER.get() {
        if let Ok(mut stop_waiting) = spinner.stop_waiting.lock() {
            stop_waiting.take();
        }
        spinner.bar.finish_and_clear();
    }
}

/// Says what happens next, e.g. "writing the report".
pub fn stage(what: &'static str) {
    if let Some(spinner) = SPINNER.get() {
        spinner.bar.set_message(what);
    }
}

/// Turns `day2::progress` events into the spinner's message.
pub struct ProgressLayer;

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some(spinner) = SPINNER.get() else { return };
        if event.metadata().target() != TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.file {
            spinner.bar.inc(1);
            if spinner.bar.position() == 1 {
                spinner.bar.set_style(spinner.reading_style.clone());
            }
        } else if let Some(stage) = fields.stage {
            spinner.bar.set_style(spinner.stage_style.clone());
            let files = spinner.bar.position();
            let read = if files > 0 { format!(" ({files} files read)") } else { String::new() };
            spinner.bar.set_message(format!("{stage}{read}"));
        }
    }
}

#[derive(Default)]
struct Fields {
    file: bool,
    stage: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "stage" => self.stage = Some(value.to_owned()),
            "file" => self.file = true,
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "stage" => self.stage = Some(format!("{value:?}").trim_matches('"').to_owned()),
            "file" => self.file = true,
            _ => {}
        }
    }
}

/// Stderr for log lines: a line written while the spinner shows is written above it, not through it.
pub struct Stderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match SPINNER.get() {
            Some(spinner) => spinner.bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
