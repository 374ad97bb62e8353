//! The web page's files (`server/assets/`, plus the modules of the JavaScript client library
//! `clients/js/`, through which the page connects: one client, not a copy), embedded in the
//! binary: the one table of URL path, content type and bytes that `http.rs` serves. Adding a
//! file is one line here.

/// One embedded file of the web page.
pub struct Asset {
    /// The URL path it is served at.
    pub path: &'static str,
    /// The `Content-Type` header value.
    pub content_type: &'static str,
    /// The file's bytes, as in `server/assets/` (or `clients/js/`).
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// ES modules: browsers require a JavaScript MIME type for `<script type="module">` and
/// every `import`.
const JS: &str = "text/javascript; charset=utf-8";

/// `asset!("name.ext", TYPE)`: `server/assets/name.ext` served at `/name.ext`.
/// `asset!(client "name.js", TYPE)`: `clients/js/name.js`, a module of the JavaScript client
/// library the page imports (one file, not a copy), served at `/name.js`.
macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        Asset {
            path: concat!("/", $file),
            content_type: $content_type,
            body: include_bytes!(concat!("../assets/", $file)),
        }
    };
    (client $file:literal, $content_type:expr) => {
        Asset {
            path: concat!("/", $file),
            content_type: $content_type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../clients/js/",
                $file
            )),
        }
    };
}

/// Every file of the page. The page loads `main.js`, which imports the other modules.
pub static ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_bytes!("../assets/index.html"),
    },
    asset!("style.css", CSS),
    asset!("main.js", JS),
    asset!("live.js", JS),
    asset!("snapshot-fetch.js", JS),
    asset!("state.js", JS),
    asset!("price-history.js", JS),
    asset!("patterns.js", JS),
    asset!("pattern-box.js", JS),
    asset!("table.js", JS),
    asset!("chart.js", JS),
    asset!("chart-ticks.js", JS),
    asset!("candles.js", JS),
    asset!("chart-feed.js", JS),
    asset!("book-feed.js", JS),
    asset!("ladder.js", JS),
    asset!("bars.js", JS),
    asset!("ranges.js", JS),
    asset!("sparkline.js", JS),
    asset!("stats.js", JS),
    asset!("frame.js", JS),
    asset!("clock.js", JS),
    asset!("format.js", JS),
    asset!("record.js", JS),
    // The JavaScript client library: index.js and every module it imports.
    asset!(client "index.js", JS),
    asset!(client "feed.js", JS),
    asset!(client "routing.js", JS),
    asset!(client "subscription.js", JS),
    asset!(client "recovery.js", JS),
    asset!(client "books.js", JS),
    asset!(client "orderbook.js", JS),
    asset!(client "crc32.js", JS),
    asset!(client "requests.js", JS),
    asset!(client "history.js", JS),
    asset!(client "errors.js", JS),
    asset!(client "messages.js", JS),
    asset!(client "transport.js", JS),
    asset!(client "msgpack.js", JS),
];

/// The asset served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn assets_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
    }

    fn client_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/js")
    }

    /// The files served from `clients/js/` (`asset!(client ...)`): every module of the
    /// JavaScript client library (its `*.js` files; tests and types are not served).
    fn from_client() -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(client_dir())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".js"))
            .collect();
        files.sort();
        files
    }

    /// The URL path each file in `server/assets/` is served at.
    fn served_path(file_name: &str) -> String {
        if file_name == "index.html" {
            "/".to_owned()
        } else {
            format!("/{file_name}")
        }
    }

    #[test]
    fn every_file_in_the_assets_folder_is_served_once() {
        let mut on_disk: BTreeSet<String> = std::fs::read_dir(assets_dir())
            .unwrap()
            .map(|entry| served_path(&entry.unwrap().file_name().to_string_lossy()))
            .collect();
        for file in from_client() {
            assert!(
                on_disk.insert(served_path(&file)),
                "{file} is in server/assets and clients/js: keep one copy (clients/js)"
            );
        }
        let table: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        let served: BTreeSet<String> = table.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            served.len(),
            table.len(),
            "a path twice in the table: {table:?}"
        );
        assert_eq!(served, on_disk);
    }

    /// A library module is served with the bytes of its one file in `clients/js/`.
    #[test]
    fn library_modules_are_served_from_clients_js() {
        for file in from_client() {
            let on_disk = std::fs::read(client_dir().join(&file)).unwrap();
            let asset = find(&served_path(&file)).unwrap();
            assert_eq!(asset.body, on_disk.as_slice(), "{file}");
        }
    }

    #[test]
    fn content_type_follows_the_extension() {
        for asset in ASSETS {
            let want = match asset.path.rsplit_once('.').map(|(_, ext)| ext) {
                _ if asset.path == "/" => HTML,
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => CSS,
                other => panic!("{}: no content type for {other:?}", asset.path),
            };
            assert_eq!(asset.content_type, want, "{}", asset.path);
        }
    }

    /// Every relative `import ... from "./x.js"` of a module names a served module.
    #[test]
    fn module_imports_resolve_to_served_assets() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some((_, rest)) = line.split_once(" from \"./") else {
                    continue;
                };
                let target = rest.split('"').next().unwrap();
                assert!(
                    find(&format!("/{target}")).is_some(),
                    "{} imports ./{target}, which is not served",
                    asset.path
                );
            }
        }
    }

    #[test]
    fn the_page_loads_main_js_as_a_module() {
        let html = std::str::from_utf8(find("/").unwrap().body).unwrap();
        assert!(html.contains(r#"<script type="module" src="/main.js"></script>"#));
        assert!(find("/main.js").is_some());
    }
}
