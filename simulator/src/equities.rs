//! The built-in universe: 50 well-known US equities with plausible parameters.
//!
//! Prices are rounded recent levels, volatilities typical annualised realised
//! volatilities, drifts long-run expectations, and weights rough relative trade counts.
//! They are demo parameters, not market data.

/// `(symbol, name, sector, price, volatility, drift, weight)`.
pub(crate) type EquityRow = (&'static str, &'static str, &'static str, f64, f64, f64, f64);

const IT: &str = "Information Technology";
const COMM: &str = "Communication Services";
const DISC: &str = "Consumer Discretionary";
const STAPLES: &str = "Consumer Staples";
const HEALTH: &str = "Health Care";
const FIN: &str = "Financials";
const ENERGY: &str = "Energy";
const INDUSTRIALS: &str = "Industrials";

#[rustfmt::skip]
pub(crate) const DEFAULT_EQUITIES: [EquityRow; 50] = [
    ("AAPL",  "Apple Inc.",                            IT,          225.00, 0.26, 0.10, 3.0),
    ("MSFT",  "Microsoft Corp.",                       IT,          420.00, 0.24, 0.10, 3.0),
    ("NVDA",  "NVIDIA Corp.",                          IT,          130.00, 0.50, 0.15, 4.0),
    ("AMZN",  "Amazon.com Inc.",                       DISC,        190.00, 0.32, 0.10, 3.0),
    ("GOOGL", "Alphabet Inc. Class A",                 COMM,        170.00, 0.29, 0.09, 2.5),
    ("META",  "Meta Platforms Inc.",                   COMM,        560.00, 0.36, 0.11, 2.5),
    ("TSLA",  "Tesla Inc.",                            DISC,        250.00, 0.58, 0.12, 4.0),
    ("BRK-B", "Berkshire Hathaway Inc. Class B",       FIN,         450.00, 0.17, 0.07, 1.0),
    ("JPM",   "JPMorgan Chase & Co.",                  FIN,         215.00, 0.23, 0.08, 1.5),
    ("V",     "Visa Inc.",                             FIN,         280.00, 0.20, 0.08, 1.2),
    ("MA",    "Mastercard Inc.",                       FIN,         500.00, 0.21, 0.08, 1.0),
    ("UNH",   "UnitedHealth Group Inc.",               HEALTH,      550.00, 0.24, 0.07, 1.0),
    ("JNJ",   "Johnson & Johnson",                     HEALTH,      155.00, 0.16, 0.05, 1.0),
    ("LLY",   "Eli Lilly and Co.",                     HEALTH,      850.00, 0.33, 0.12, 1.5),
    ("PFE",   "Pfizer Inc.",                           HEALTH,      28.00,  0.25, 0.03, 1.2),
    ("MRK",   "Merck & Co. Inc.",                      HEALTH,      110.00, 0.22, 0.05, 1.0),
    ("ABBV",  "AbbVie Inc.",                           HEALTH,      175.00, 0.22, 0.06, 0.9),
    ("XOM",   "Exxon Mobil Corp.",                     ENERGY,      115.00, 0.24, 0.06, 1.2),
    ("CVX",   "Chevron Corp.",                         ENERGY,      155.00, 0.24, 0.05, 1.0),
    ("PG",    "Procter & Gamble Co.",                  STAPLES,     165.00, 0.16, 0.05, 0.9),
    ("KO",    "Coca-Cola Co.",                         STAPLES,     65.00,  0.15, 0.05, 1.0),
    ("PEP",   "PepsiCo Inc.",                          STAPLES,     165.00, 0.16, 0.05, 0.8),
    ("WMT",   "Walmart Inc.",                          STAPLES,     80.00,  0.19, 0.08, 1.2),
    ("COST",  "Costco Wholesale Corp.",                STAPLES,     880.00, 0.21, 0.09, 0.8),
    ("HD",    "Home Depot Inc.",                       DISC,        390.00, 0.22, 0.07, 0.9),
    ("MCD",   "McDonald's Corp.",                      DISC,        290.00, 0.18, 0.06, 0.8),
    ("NKE",   "Nike Inc. Class B",                     DISC,        80.00,  0.32, 0.05, 1.0),
    ("DIS",   "Walt Disney Co.",                       COMM,        95.00,  0.28, 0.05, 1.0),
    ("NFLX",  "Netflix Inc.",                          COMM,        700.00, 0.38, 0.12, 1.2),
    ("CSCO",  "Cisco Systems Inc.",                    IT,          52.00,  0.22, 0.05, 1.0),
    ("INTC",  "Intel Corp.",                           IT,          22.00,  0.45, 0.02, 1.5),
    ("AMD",   "Advanced Micro Devices Inc.",           IT,          155.00, 0.50, 0.12, 2.5),
    ("ORCL",  "Oracle Corp.",                          IT,          165.00, 0.32, 0.09, 1.0),
    ("CRM",   "Salesforce Inc.",                       IT,          280.00, 0.33, 0.08, 1.0),
    ("ADBE",  "Adobe Inc.",                            IT,          510.00, 0.32, 0.08, 0.8),
    ("AVGO",  "Broadcom Inc.",                         IT,          170.00, 0.42, 0.12, 1.5),
    ("QCOM",  "Qualcomm Inc.",                         IT,          165.00, 0.35, 0.07, 1.0),
    ("TXN",   "Texas Instruments Inc.",                IT,          200.00, 0.26, 0.06, 0.7),
    ("IBM",   "International Business Machines Corp.", IT,          215.00, 0.22, 0.05, 0.7),
    ("BAC",   "Bank of America Corp.",                 FIN,         40.00,  0.26, 0.06, 1.5),
    ("WFC",   "Wells Fargo & Co.",                     FIN,         60.00,  0.27, 0.06, 1.0),
    ("GS",    "Goldman Sachs Group Inc.",              FIN,         500.00, 0.27, 0.08, 0.8),
    ("MS",    "Morgan Stanley",                        FIN,         105.00, 0.27, 0.08, 0.8),
    ("C",     "Citigroup Inc.",                        FIN,         63.00,  0.29, 0.06, 1.0),
    ("CAT",   "Caterpillar Inc.",                      INDUSTRIALS, 360.00, 0.28, 0.08, 0.8),
    ("BA",    "Boeing Co.",                            INDUSTRIALS, 160.00, 0.38, 0.04, 1.2),
    ("GE",    "GE Aerospace",                          INDUSTRIALS, 175.00, 0.30, 0.09, 0.9),
    ("UPS",   "United Parcel Service Inc. Class B",    INDUSTRIALS, 130.00, 0.25, 0.04, 0.7),
    ("T",     "AT&T Inc.",                             COMM,        22.00,  0.20, 0.04, 1.0),
    ("VZ",    "Verizon Communications Inc.",           COMM,        42.00,  0.19, 0.04, 0.9),
];
