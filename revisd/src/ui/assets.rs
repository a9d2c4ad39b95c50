//! The page, compiled into the binary: no CDN, no network, nothing to install. Plain HTML,
//! CSS and JavaScript (charts are SVG drawn by the script), so there is no build step either.

pub const INDEX_HTML: &str = include_str!("assets/index.html");
pub const APP_JS: &str = include_str!("assets/app.js");
pub const APP_CSS: &str = include_str!("assets/app.css");
