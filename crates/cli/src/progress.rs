//! A progress bar on a terminal; nothing when standard error is a pipe or a file.

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use secops_service::Progress;

/// Progress over a number of inputs, drawn on standard error only when it is a terminal.
pub fn inputs_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() || total < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} inputs  {per_sec}  {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// The service's progress over inputs, as an [`inputs_bar`] made when the work starts.
#[derive(Debug, Default)]
pub struct InputsBar(RefCell<Option<ProgressBar>>);

impl InputsBar {
    pub fn new() -> Self {
        InputsBar::default()
    }
}

impl Progress for InputsBar {
    fn start(&self, total: u64) {
        *self.0.borrow_mut() = Some(inputs_bar(usize::try_from(total).unwrap_or(usize::MAX)));
    }

    fn advance(&self) {
        if let Some(bar) = self.0.borrow().as_ref() {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
