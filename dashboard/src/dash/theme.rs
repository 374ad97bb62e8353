//! Colours and glyphs, with a monochrome variant for `NO_COLOR` (https://no-color.org):
//! there every distinction is made with modifiers and symbols instead.

use ratatui::style::{Color, Modifier, Style};

use super::model::Direction;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub const COLOR: Self = Self { color: true };
    pub const MONO: Self = Self { color: false };

    /// Monochrome when `NO_COLOR` is set to anything non-empty.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if no_color { Self::MONO } else { Self::COLOR }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn up(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn down(self) -> Style {
        self.fg(Color::Red)
    }

    pub fn direction(self, d: Option<Direction>) -> Style {
        match d {
            Some(Direction::Up) => self.up(),
            Some(Direction::Down) => self.down(),
            None => Style::new(),
        }
    }

    /// The last-price cell right after a change.
    pub fn flash(self, d: Direction) -> Style {
        match (self.color, d) {
            (true, Direction::Up) => Style::new().fg(Color::Black).bg(Color::Green),
            (true, Direction::Down) => Style::new().fg(Color::Black).bg(Color::Red),
            (false, _) => Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        }
    }

    pub fn selected(self) -> Style {
        if self.color {
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn header(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn border(self) -> Style {
        self.fg(Color::Gray)
    }

    pub fn gap(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn alert(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Magenta)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        }
    }

    pub fn marker(self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn ok(self) -> Style {
        self.fg(Color::Green).add_modifier(Modifier::BOLD)
    }

    pub fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn status_bar(self) -> Style {
        if self.color {
            Style::new().bg(Color::Indexed(236))
        } else {
            Style::new()
        }
    }

    /// Body glyph of a candle: filled for down, light for up when there is no colour.
    pub fn candle_body(self, up: bool) -> &'static str {
        match (self.color, up) {
            (true, _) | (false, false) => "█",
            (false, true) => "░",
        }
    }
}
