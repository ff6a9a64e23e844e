//! Clean interruption: the first SIGINT or SIGTERM asks the run to stop (no new files, work in
//! flight settles, outputs are written); a second one exits at once.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::exit_codes::ExitCode;

#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    stop: Arc<AtomicBool>,
    sigint: Arc<AtomicBool>,
    sigterm: Arc<AtomicBool>,
}

impl Interrupt {
    /// Installs the handlers.
    pub fn install() -> io::Result<Interrupt> {
        let interrupt = Interrupt::default();
        for (signal, code, seen) in
            [(SIGINT, ExitCode::Interrupted, &interrupt.sigint), (SIGTERM, ExitCode::Terminated, &interrupt.sigterm)]
        {
            // Registered first, so it sees the flag as the previous signal left it.
            signal_hook::flag::register_conditional_shutdown(signal, code as i32, Arc::clone(&interrupt.stop))?;
            signal_hook::flag::register(signal, Arc::clone(seen))?;
            signal_hook::flag::register(signal, Arc::clone(&interrupt.stop))?;
        }
        Ok(interrupt)
    }

    /// The flag the run polls.
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// The same flag, for threads that outlive a borrow.
    pub fn shared_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The exit code owed to a signal received, if any.
    pub fn exit_code(&self) -> Option<ExitCode> {
        if self.sigint.load(Ordering::Relaxed) {
            Some(ExitCode::Interrupted)
        } else if self.sigterm.load(Ordering::Relaxed) {
            Some(ExitCode::Terminated)
        } else {
            None
        }
    }
}
