//! Progress for people and for logs: indicatif bars on a terminal; on anything else (cron, CI)
//! one plain line every 30 seconds; nothing with `--quiet` or `--no-progress`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::thousands;

const LOG_EVERY: Duration = Duration::from_secs(30);

pub struct Progress {
    mode: Mode,
    started: Instant,
    last_line: Instant,
    files_total: u64,
    files_done: u64,
    events: u64,
}

enum Mode {
    Bar(ProgressBar),
    Lines,
    Off,
}

impl Progress {
    pub fn new(files_total: u64, bytes_total: u64, quiet: bool, no_progress: bool) -> Progress {
        let mode = if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            if no_progress { Mode::Off } else { Mode::Bar(bar(bytes_total)) }
        } else if no_progress {
            Mode::Off
        } else {
            Mode::Lines
        };
        let now = Instant::now();
        Progress { mode, started: now, last_line: now, files_total, files_done: 0, events: 0 }
    }

    pub fn hidden() -> Progress {
        Progress::new(0, 0, true, true)
    }

    pub fn add_events(&mut self, n: u64) {
        self.events += n;
        self.tick(0);
    }

    pub fn file_done(&mut self, bytes: u64) {
        self.files_done += 1;
        self.tick(bytes);
    }

    fn tick(&mut self, bytes: u64) {
        let rate = self.events as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        match &self.mode {
            Mode::Bar(bar) => {
                bar.inc(bytes);
                bar.set_message(format!(
                    "{}/{} files, {} events, {} events/s",
                    self.files_done,
                    self.files_total,
                    thousands(self.events),
                    thousands(rate as u64)
                ));
            }
            Mode::Lines if self.last_line.elapsed() >= LOG_EVERY => {
                self.last_line = Instant::now();
                eprintln!(
                    "progress: {}/{} files, {} events, {} events/s",
                    self.files_done,
                    self.files_total,
                    thousands(self.events),
                    thousands(rate as u64)
                );
            }
            _ => {}
        }
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(|| eprintln!("{line}")),
            _ => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

fn bar(bytes_total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(bytes_total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {wide_msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
