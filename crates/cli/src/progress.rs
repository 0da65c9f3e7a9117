//! A progress bar on a terminal; nothing when standard error is a pipe or a file.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use secops_ingest::Counters;
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

/// The service's progress over inputs, as an [`inputs_bar`] made when the work starts; for one large
/// input, a bar of its bytes with the events read per second.
#[derive(Debug, Default)]
pub struct InputsBar {
    bar: RefCell<Option<ProgressBar>>,
    /// The thread that moves the bytes bar, and the flag that stops it.
    ticker: RefCell<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
}

impl InputsBar {
    pub fn new() -> Self {
        InputsBar::default()
    }
}

/// How often the bytes bar is moved.
const TICK: Duration = Duration::from_millis(200);

impl Progress for InputsBar {
    fn start(&self, total: u64) {
        *self.bar.borrow_mut() = Some(inputs_bar(usize::try_from(total).unwrap_or(usize::MAX)));
    }

    fn advance(&self) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(1);
        }
    }

    fn reading(&self, counters: &Arc<Counters>, bytes: u64) {
        if !std::io::stderr().is_terminal() || self.ticker.borrow().is_some() {
            return;
        }
        let bar = ProgressBar::new(bytes);
        let style = ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes}  {binary_bytes_per_sec}  {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let stop = Arc::new(AtomicBool::new(false));
        let (counters, flag) = (counters.clone(), stop.clone());
        let ticker = std::thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                let records = counters.records.load(Ordering::Relaxed);
                bar.set_position(counters.bytes.load(Ordering::Relaxed));
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{records} events  {rate:.0} events/s"));
            }
            bar.finish_and_clear();
        });
        *self.ticker.borrow_mut() = Some((stop, ticker));
    }

    fn finish(&self) {
        if let Some((stop, ticker)) = self.ticker.borrow_mut().take() {
            stop.store(true, Ordering::Relaxed);
            let _ = ticker.join();
        }
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
