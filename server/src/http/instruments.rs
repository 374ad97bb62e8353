//! `GET /instruments`: reference data of the instruments the embedded simulator trades:
//! symbol, name, sector, tick size, lot size, previous close, and the market state now.

use std::collections::HashMap;

use hyper::Response;
use tickcast_proto::MarketState;

use super::{Body, json};
use crate::App;

/// One instrument as `GET /instruments` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstrumentInfo {
    pub symbol: String,
    pub name: String,
    pub sector: String,
    pub tick_size: f64,
    pub lot_size: u64,
    pub prev_close: f64,
    pub state: MarketState,
    /// The latest trade's price (`null` before the first trade).
    pub last_price: Option<f64>,
}

/// Answers `GET /instruments`: a JSON array sorted by symbol (empty on a server without
/// the embedded simulator: its publishers' instruments are not known to it).
pub fn serve(app: &App) -> Response<Body> {
    let Some(sim) = app.config.simulator.as_ref() else {
        return json(&Vec::<InstrumentInfo>::new());
    };
    let topics: HashMap<String, (MarketState, Option<f64>)> = app
        .broker
        .describe()
        .into_iter()
        .map(|t| (t.topic, (t.state, t.last_price)))
        .collect();
    let mut out: Vec<InstrumentInfo> = sim
        .universe
        .instruments()
        .iter()
        .map(|i| {
            let (state, last_price) = topics
                .get(&format!("ticks.{}", i.symbol))
                .copied()
                .unwrap_or((MarketState::Open, None));
            InstrumentInfo {
                symbol: i.symbol.clone(),
                name: i.name.clone(),
                sector: i.sector.clone(),
                tick_size: i.tick_size,
                lot_size: i.lot_size,
                prev_close: i.price,
                state,
                last_price,
            }
        })
        .collect();
    out.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    json(&out)
}
