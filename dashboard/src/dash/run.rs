//! The event loop: terminal input, client events and timers in one `select!`. It redraws
//! only when something changed, at most once per [`FRAME`], each frame as one synchronized
//! update; a burst of client events is folded into the next frame.

use std::{
    io::{self, Write},
    time::Duration,
};

use crossterm::{
    cursor::Show,
    event::{DisableMouseCapture, EnableMouseCapture, Event, EventStream},
    execute, queue,
    terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate},
};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until},
};

use super::{
    app::{App, Conn},
    ui,
};
use tickcast_client::{Client, ClientEvent};
use tickcast_proto::clock::unix_ns;

/// Shortest time between two frames (about 30 fps).
pub const FRAME: Duration = Duration::from_millis(33);
/// Client events applied between two looks at the keyboard, at most.
const MAX_EVENTS_PER_PASS: usize = 50_000;

/// The terminal in raw mode on the alternate screen with mouse capture. Dropping it
/// restores the terminal; a panic hook does the same if the process panics.
pub struct Terminal {
    inner: DefaultTerminal,
}

impl Terminal {
    pub fn enter() -> io::Result<Self> {
        // Raw mode + alternate screen, and a panic hook that undoes both.
        let inner = ratatui::try_init()?;
        let ratatui_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = execute!(
                io::stdout(),
                EndSynchronizedUpdate,
                DisableMouseCapture,
                Show
            );
            ratatui_hook(info);
        }));
        let terminal = Self { inner };
        execute!(io::stdout(), EnableMouseCapture)?;
        Ok(terminal)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = execute!(
            io::stdout(),
            EndSynchronizedUpdate,
            DisableMouseCapture,
            Show
        );
        ratatui::restore();
    }
}

enum Wake {
    Input(Option<io::Result<Event>>),
    Client(usize),
    Timer,
    Signal,
}

/// Runs the dashboard until the user quits. Errors are terminal I/O errors, or the client
/// task ending without saying why.
pub async fn run(
    terminal: &mut Terminal,
    app: &mut App,
    client: &Client,
    events: &mut mpsc::Receiver<ClientEvent>,
) -> io::Result<()> {
    let mut input = EventStream::new();
    let mut batch = Vec::with_capacity(1024);
    let mut events_open = true;
    let mut last_draw: Option<Instant> = None;
    let size = terminal.inner.size()?;
    app.size = (size.width, size.height);
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;

    loop {
        app.tick(unix_ns());
        if app.is_dirty() && last_draw.is_none_or(|t| t.elapsed() >= FRAME) {
            app.prepare();
            draw(&mut terminal.inner, app)?;
            last_draw = Some(Instant::now());
            app.mark_drawn();
        }
        let wake_at = match last_draw {
            Some(t) if app.is_dirty() => t + FRAME,
            _ => {
                let in_ns = app.next_wake_ns().saturating_sub(unix_ns());
                Instant::now() + Duration::from_nanos(in_ns)
            }
        };

        let signal = async {
            #[cfg(unix)]
            tokio::select! {
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await;
        };
        let wake = tokio::select! {
            ev = input.next() => Wake::Input(ev),
            n = events.recv_many(&mut batch, 1024), if events_open => Wake::Client(n),
            () = sleep_until(wake_at) => Wake::Timer,
            () = signal => Wake::Signal,
        };
        app.tick(unix_ns());
        match wake {
            Wake::Input(Some(Ok(event))) => app.on_terminal(event),
            Wake::Input(Some(Err(e))) => return Err(e),
            // The terminal went away: nothing left to draw on.
            Wake::Input(None) | Wake::Signal => return Ok(()),
            Wake::Client(0) => {
                events_open = false;
                if !matches!(app.conn, Conn::Stopped { .. }) {
                    return Err(io::Error::other("the client task ended unexpectedly"));
                }
            }
            Wake::Client(_) => {
                for event in batch.drain(..) {
                    app.on_client(event);
                }
                // Fold whatever else is already queued into this frame.
                let mut folded = 0;
                while folded < MAX_EVENTS_PER_PASS {
                    let Ok(event) = events.try_recv() else { break };
                    app.on_client(event);
                    folded += 1;
                }
            }
            Wake::Timer => {}
        }
        for command in app.take_commands() {
            if let Err(e) = client.command(command) {
                app.notify(format!("cannot change subscription: {e}"));
            }
        }
        if app.should_quit() {
            return Ok(());
        }
    }
}

fn draw(terminal: &mut DefaultTerminal, app: &mut App) -> io::Result<()> {
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|frame| ui::draw(frame, app))?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    if app.take_bell() {
        let out = terminal.backend_mut();
        out.write_all(b"\x07")?;
        out.flush()?;
    }
    Ok(())
}
