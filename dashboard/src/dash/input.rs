//! Keys and mouse: how terminal input changes [`App`]. Only key presses count (never
//! releases or repeats of modifiers), so terminals that report releases behave the same.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Position;
use tickcast_proto::Pattern;

use super::{
    app::{App, ChartKind, Mode},
    follow::TICK_REWIND,
    model::Alert,
    timeframe::TimeFrame,
    ui,
    window::series_items,
};
use tickcast_client::Command;

impl App {
    /// Applies one terminal event.
    pub fn on_terminal(&mut self, event: Event) {
        match event {
            Event::Key(key) if key.kind == KeyEventKind::Press => self.on_key(key),
            Event::Mouse(mouse) => self.on_mouse(mouse),
            Event::Resize(w, h) => {
                self.size = (w, h);
                self.dirty = true;
            }
            _ => {}
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        self.dirty = true;
        match std::mem::replace(&mut self.mode, Mode::Normal) {
            Mode::Normal => self.on_normal_key(key.code),
            Mode::Help => {
                if key.code == KeyCode::Char('q') {
                    self.quit = true;
                }
            }
            Mode::Jump { text, from } => self.on_jump_key(text, from, key.code),
            Mode::AddPattern(text) if key.code == KeyCode::Enter => self.commit_pattern(&text),
            Mode::AddPattern(text) => {
                if let Some(text) = edit(text, key.code, |c| !c.is_whitespace()) {
                    self.mode = Mode::AddPattern(text);
                }
            }
            Mode::DropPattern(i) => self.on_drop_key(i, key.code),
            Mode::Alert(text) if key.code == KeyCode::Enter => self.commit_alert(&text),
            Mode::Alert(text) => {
                if let Some(text) = edit(text, key.code, |c| c.is_ascii_digit() || c == '.') {
                    self.mode = Mode::Alert(text);
                }
            }
        }
    }

    fn on_normal_key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc if self.focus => self.focus = false,
            KeyCode::Esc => self.quit = true,
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-(ui::watchlist_rows(self).max(1) as isize)),
            KeyCode::PageDown => self.move_selection(ui::watchlist_rows(self).max(1) as isize),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(isize::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(isize::MAX / 2),
            KeyCode::Enter => self.focus = !self.focus,
            KeyCode::Char('b') => self.ladder = !self.ladder,
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('/') => {
                self.mode = Mode::Jump {
                    text: String::new(),
                    from: self.selected.clone(),
                }
            }
            KeyCode::Char('+') => self.mode = Mode::AddPattern(String::new()),
            KeyCode::Char('-') => {
                if self.patterns.is_empty() {
                    self.notify("no patterns to drop");
                } else {
                    self.mode = Mode::DropPattern(0);
                }
            }
            KeyCode::Char('c') => {
                self.chart = match self.chart {
                    ChartKind::Line => ChartKind::Candles,
                    ChartKind::Candles => ChartKind::Line,
                };
                if self.chart == ChartKind::Candles && self.frame == TimeFrame::Ticks {
                    self.frame = TimeFrame::Ticks.next();
                }
            }
            KeyCode::Char('t') => self.step_frame(TimeFrame::next),
            KeyCode::Char('T') => self.step_frame(TimeFrame::prev),
            KeyCode::Left | KeyCode::Char('h') => self.pan(-1),
            KeyCode::Right | KeyCode::Char('l') => self.pan(1),
            KeyCode::Char('[') => self.chart_view.zoom_out(),
            KeyCode::Char(']') => self.chart_view.zoom_in(),
            KeyCode::Char('0') => self.chart_view = Default::default(),
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.prepare();
            }
            KeyCode::Char('p') => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(self.market.clone()),
                };
                self.prepare();
            }
            KeyCode::Char('a') => {
                if let Some(q) = self.selected_quote() {
                    let text = match q.alert {
                        Some(a) => format!("{:.2}", a.target),
                        None => format!("{:.2}", q.last),
                    };
                    self.mode = Mode::Alert(text);
                }
            }
            _ => self.dirty = false,
        }
    }

    /// Moves to another time frame; candles need bars, so they skip the tick frame.
    fn step_frame(&mut self, step: fn(TimeFrame) -> TimeFrame) {
        self.frame = step(self.frame);
        if self.frame == TimeFrame::Ticks && self.chart == ChartKind::Candles {
            self.frame = step(self.frame);
        }
    }

    /// Pans the chart a quarter of its width back (`-1`) or forward (`1`) in time.
    fn pan(&mut self, direction: isize) {
        let Some(quote) = self.selected_quote() else {
            return;
        };
        let items = self.chart_view.zoomed(&series_items(quote, self.frame));
        let capacity = ui::chart_capacity(self);
        let by = direction * (capacity / 4).max(1) as isize;
        let mut view = self.chart_view;
        view.pan(&items, capacity, by);
        self.chart_view = view;
    }

    fn on_jump_key(&mut self, text: String, from: Option<String>, code: KeyCode) {
        if code == KeyCode::Esc {
            self.selected = from;
            self.scroll_into_view();
            return;
        }
        if let Some(text) = edit(text, code, |c| !c.is_whitespace()) {
            let needle = text.to_ascii_uppercase();
            let found = self
                .order
                .iter()
                .find(|s| s.to_ascii_uppercase() == needle)
                .or_else(|| {
                    self.order
                        .iter()
                        .find(|s| s.to_ascii_uppercase().starts_with(&needle))
                })
                .cloned();
            if found.is_some() {
                self.selected = found;
                self.scroll_into_view();
            }
            self.mode = Mode::Jump { text, from };
        }
    }

    fn on_drop_key(&mut self, i: usize, code: KeyCode) {
        let last = self.patterns.len().saturating_sub(1);
        match code {
            KeyCode::Up | KeyCode::Char('k') => self.mode = Mode::DropPattern(i.saturating_sub(1)),
            KeyCode::Down | KeyCode::Char('j') => self.mode = Mode::DropPattern((i + 1).min(last)),
            KeyCode::Enter => {
                if let Some(text) = self.patterns.get(i).cloned() {
                    match Pattern::parse(&text) {
                        Ok(p) => {
                            self.outbox.push(Command::Unsubscribe(vec![p]));
                            self.patterns.retain(|t| *t != text);
                            self.notify(format!("unsubscribed {text}"));
                        }
                        Err(e) => self.notify(format!("cannot drop {text:?}: {e}")),
                    }
                }
            }
            KeyCode::Esc => {}
            _ => self.mode = Mode::DropPattern(i),
        }
    }

    fn commit_pattern(&mut self, text: &str) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        match Pattern::parse(&text) {
            Ok(p) => {
                self.outbox.push(Command::Subscribe {
                    patterns: vec![p],
                    rewind: Some(TICK_REWIND),
                    depth: None,
                });
                // Its history is not a latency sample.
                self.live_from_ns = self.live_from_ns.max(self.now_ns);
                if !self.patterns.contains(&text) {
                    self.patterns.push(text.clone());
                }
                self.notify(format!("subscribed {text}"));
            }
            Err(e) => self.notify(format!("bad pattern {text:?}: {e}")),
        }
    }

    fn commit_alert(&mut self, text: &str) {
        let Some(symbol) = self.selected.clone() else {
            return;
        };
        let Some(q) = self.market.quotes.get_mut(&symbol) else {
            return;
        };
        let text = text.trim();
        if text.is_empty() {
            q.alert = None;
            self.notify(format!("alert on {symbol} cleared"));
            return;
        }
        match text.parse::<f64>() {
            Ok(target) if target.is_finite() && target > 0.0 => {
                let above = target >= q.last;
                q.alert = Some(Alert {
                    target,
                    above,
                    fired_at_ns: None,
                });
                let dir = if above { "rises to" } else { "falls to" };
                self.notify(format!("alert: {symbol} {dir} {target:.2}"));
            }
            _ => self.notify(format!("not a price: {text:?}")),
        }
    }

    pub(super) fn move_selection(&mut self, by: isize) {
        if self.order.is_empty() {
            return;
        }
        let current = self.selected_index().unwrap_or(0) as isize;
        let last = self.order.len() as isize - 1;
        let next = current.saturating_add(by).clamp(0, last) as usize;
        self.selected = self.order.get(next).cloned();
        self.scroll_into_view();
    }

    fn on_mouse(&mut self, mouse: MouseEvent) {
        if mouse.kind != MouseEventKind::Down(MouseButton::Left) || self.mode != Mode::Normal {
            return;
        }
        let Some(rows) = ui::areas(self).watchlist_rows else {
            return;
        };
        if !rows.contains(Position::new(mouse.column, mouse.row)) {
            return;
        }
        let index = self.offset + usize::from(mouse.row - rows.y);
        if let Some(symbol) = self.order.get(index).cloned() {
            self.selected = Some(symbol);
            self.dirty = true;
        }
    }
}

/// Line editing for prompts: Some(new text) while editing, None on Enter or Esc.
fn edit(mut text: String, code: KeyCode, allowed: impl Fn(char) -> bool) -> Option<String> {
    match code {
        KeyCode::Enter | KeyCode::Esc => return None,
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) if allowed(c) && text.len() < 128 => text.push(c),
        _ => {}
    }
    Some(text)
}
