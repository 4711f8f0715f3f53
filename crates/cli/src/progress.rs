//! The one progress module of the CLI: it turns the library's progress
//! events into indicatif bars on a terminal, and into plain lines (the
//! events' notes) when stderr is not a terminal. `--quiet` shows nothing.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use scalelab::{Event, Progress};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Terminal progress for the library's events.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<u64, ProgressBar>>,
    terminal: bool,
    quiet: bool,
}

impl Bars {
    /// Bars on stderr when it is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Self {
        let terminal = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if terminal {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            terminal,
            quiet,
        }
    }

    fn style(total: Option<u64>, unit: &str) -> ProgressStyle {
        let template = match total {
            Some(_) => {
                format!("{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})")
            }
            None => format!("{{spinner}} {{msg}} {{pos}} {unit} ({{elapsed}})"),
        };
        ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("=> ")
    }
}

impl Progress for Bars {
    fn event(&self, event: &Event<'_>) {
        if self.quiet {
            return;
        }
        match *event {
            Event::Note { message, .. } => {
                if self.terminal {
                    let _ = self.multi.println(message);
                } else {
                    eprintln!("{message}");
                }
            }
            _ if !self.terminal => {}
            Event::Begin {
                id,
                label,
                total,
                unit,
            } => {
                let bar = self
                    .multi
                    .add(ProgressBar::new(total.unwrap_or(0)).with_style(Self::style(total, unit)));
                bar.set_message(label.to_string());
                if total.is_none() {
                    // a spinner moves while the work (e.g. BPE training) reports nothing
                    bar.enable_steady_tick(std::time::Duration::from_millis(200));
                }
                self.bars.lock().expect("bars").insert(id, bar);
            }
            Event::Advance {
                id,
                done,
                total,
                message,
            } => {
                if let Some(bar) = self.bars.lock().expect("bars").get(&id) {
                    if let Some(t) = total {
                        bar.set_length(t);
                    }
                    bar.set_position(done);
                    if !message.is_empty() {
                        bar.set_message(message.to_string());
                    }
                }
            }
            Event::End { id } => {
                if let Some(bar) = self.bars.lock().expect("bars").remove(&id) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
            }
        }
    }
}
