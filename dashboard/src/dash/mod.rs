//! The terminal dashboard: state ([`app`], [`model`]), input, drawing ([`ui`]) and the
//! event loop ([`run`]) that ties them to the terminal and the [`crate::client`].

pub mod app;
mod input;
pub mod model;
mod run;
pub mod stats;
pub mod theme;
pub mod ui;

pub use app::App;
pub use run::{Terminal, run};

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;
