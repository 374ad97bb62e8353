//! The terminal dashboard: state ([`app`], [`model`], [`timeframe`], [`window`]), the
//! chart's own subscription (`follow`) and the ladder's (`ladder`), input, drawing ([`ui`]) and the event loop
//! ([`run`]) that ties them to the terminal and the `tickcast_client` client.

pub mod app;
mod follow;
mod input;
mod ladder;
pub mod model;
mod run;
pub mod stats;
pub mod theme;
pub mod timeframe;
pub mod ui;
pub mod window;

pub use app::App;
pub use follow::{CHART_REWIND, TICK_REWIND};
pub use run::{Terminal, run};

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod ladder_tests;
#[cfg(test)]
mod tests;
