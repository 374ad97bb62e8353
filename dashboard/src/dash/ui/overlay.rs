//! Popups over the main view: help, prompts (`/`, `+`, `a`) and the pattern picker (`-`).

use ratatui::{
    Frame,
    layout::{Constraint, Flex, Layout, Rect},
    text::{Line, Span},
    widgets::{Block, Borders, Clear, Paragraph},
};

use crate::dash::app::{App, Mode};

const KEYS: &[(&str, &str)] = &[
    ("↑ ↓ / k j", "move selection (PgUp PgDn Home End)"),
    ("Enter", "focus: chart full screen (Esc back)"),
    ("b", "order book: depth ladder of the selection"),
    ("/", "jump to a symbol by typing"),
    ("+  -", "add / drop a topic pattern"),
    ("c", "chart: line / candlesticks"),
    ("t  T", "time frame: ticks 1s 1m 5m 15m 1h, T back"),
    ("← → / h l", "pan the chart through its history"),
    ("[  ]", "zoom out / in (merge bars, see more time)"),
    ("0", "chart back to live, no zoom"),
    ("s", "sort: symbol / %change / volume"),
    ("p", "pause the screen (data keeps flowing)"),
    ("a", "price alert on the selected symbol"),
    ("mouse", "click a row to select it"),
    ("?", "this help"),
    ("q Esc Ctrl-C", "quit"),
];

const LEGEND: &[(&str, &str)] = &[
    ("~  H  C", "stale / halted / closed symbol"),
    ("•  !", "alert set / alert fired"),
    ("┆", "gap: messages lost, not bridged"),
    ("◀", "last price on the price axis"),
];

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let theme = app.theme;
    let area = frame.area();
    let block = |title: &str| {
        Block::new()
            .borders(Borders::ALL)
            .border_style(theme.header())
            .title(Span::styled(format!(" {title} "), theme.header()))
    };
    let prompt = |frame: &mut Frame<'_>, title: &str, text: &str, hint: &str| {
        let popup = centered(area, 60, 4);
        frame.render_widget(Clear, popup);
        let lines = vec![
            Line::from(vec![
                Span::raw(text.to_owned()),
                Span::styled("█", theme.dim()),
            ]),
            Line::from(Span::styled(hint.to_owned(), theme.dim())),
        ];
        frame.render_widget(Paragraph::new(lines).block(block(title)), popup);
    };
    match &app.mode {
        Mode::Normal => {}
        Mode::Help => {
            let mut lines: Vec<Line<'_>> = KEYS
                .iter()
                .chain([("", "")].iter())
                .chain(LEGEND)
                .map(|(k, v)| {
                    Line::from(vec![
                        Span::styled(format!(" {k:<13}"), theme.header()),
                        Span::raw(*v),
                    ])
                })
                .collect();
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(" any key closes", theme.dim())));
            let popup = centered(area, 58, lines.len() as u16 + 2);
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(lines).block(block("tickcast-dash · keys")),
                popup,
            );
        }
        Mode::Jump { text, .. } => prompt(
            frame,
            "jump to symbol",
            text,
            "type a symbol · Enter/Esc closes",
        ),
        Mode::AddPattern(text) => prompt(
            frame,
            "subscribe to pattern",
            text,
            "e.g. ticks.AAPL, bars.1m.*, ticks.> · Enter adds · Esc cancels",
        ),
        Mode::Alert(text) => {
            let title = format!("alert on {}", app.selected.as_deref().unwrap_or("?"));
            prompt(
                frame,
                &title,
                text,
                "price · Enter sets · empty clears · Esc cancels",
            );
        }
        Mode::DropPattern(selected) => {
            let lines: Vec<Line<'_>> = app
                .patterns
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let style = if i == *selected {
                        theme.selected()
                    } else {
                        ratatui::style::Style::new()
                    };
                    Line::from(Span::styled(format!(" {p} "), style))
                })
                .collect();
            let popup = centered(area, 40, lines.len() as u16 + 2);
            frame.render_widget(Clear, popup);
            frame.render_widget(
                Paragraph::new(lines).block(block("drop pattern · Enter")),
                popup,
            );
        }
    }
}
