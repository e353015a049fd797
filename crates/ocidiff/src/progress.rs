//! Progress bars on stderr, only when it is a terminal, so that logs and CI output stay
//! clean: one per image downloaded or exported, in the order of the inputs, then one per step
//! of the comparison (reading layers, package databases).

use std::io::{self, IsTerminal};
use std::sync::{Arc, Mutex, PoisonError};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ocidiff_core::model::{Progress, Unit};

/// Bars for the tasks the library reports; those named in `order` (the inputs' images) are
/// drawn in that order, whichever starts first; `None` when stderr is no terminal.
pub fn bars(order: Vec<String>) -> Option<Arc<dyn Progress>> {
    if !io::stderr().is_terminal() {
        return None;
    }
    Some(Arc::new(Bars {
        multi: MultiProgress::new(),
        order,
        drawn: Mutex::new(Vec::new()),
    }))
}

struct Bars {
    multi: MultiProgress,
    order: Vec<String>,
    /// The bars drawn, top to bottom, with their task.
    drawn: Mutex<Vec<(String, ProgressBar)>>,
}

impl Bars {
    /// Where `task` stands among the tasks: its place in `order`, else after them all.
    fn rank(&self, task: &str) -> usize {
        self.order
            .iter()
            .position(|t| t == task)
            .unwrap_or(self.order.len())
    }

    fn bar(&self, task: &str, total: Option<u64>, unit: Unit) -> ProgressBar {
        let mut bars = self.drawn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, bar)) = bars.iter().find(|(t, _)| t == task) {
            return bar.clone();
        }
        let rank = self.rank(task);
        let at = bars
            .iter()
            .take_while(|(t, _)| self.rank(t) <= rank)
            .count();
        let bar = self.multi.insert(at, ProgressBar::new(total.unwrap_or(0)));
        let template = match (unit, total) {
            (Unit::Bytes, Some(_)) => {
                "{msg:40!} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}"
            }
            (Unit::Bytes, None) => "{msg:40!} {spinner} {bytes:>10} {bytes_per_sec:>12}",
            (Unit::Items, _) => "{msg:40!} {bar:30} {pos:>10}/{len:10}",
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(task.to_owned());
        bars.insert(at, (task.to_owned(), bar.clone()));
        bar
    }
}

impl Progress for Bars {
    fn update(&self, task: &str, done: u64, total: Option<u64>, unit: Unit) {
        let bar = self.bar(task, total, unit);
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    }

    fn finish(&self, task: &str) {
        let bars = self.drawn.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, bar)) = bars.iter().find(|(t, _)| t == task) {
            bar.abandon();
        }
    }
}
