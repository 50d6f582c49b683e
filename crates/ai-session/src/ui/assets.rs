//! The page, embedded in the binary: our own files from `ui-web/src/` and xterm.js from
//! `ui-web/vendor/` (copied there from the npm package pinned in `ui-web/package-lock.json` by
//! `cargo xtask ui`, and committed, so building needs no npm). The running program fetches
//! nothing.

/// One embedded file.
pub(crate) struct Asset {
    pub(crate) name: &'static str,
    pub(crate) content_type: &'static str,
    pub(crate) body: &'static [u8],
}

macro_rules! asset {
    ($dir:literal, $name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/ui-web/",
                $dir,
                "/",
                $name
            )),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page itself.
pub(crate) const INDEX: Asset = asset!("src", "index.html", "text/html; charset=utf-8");

/// Everything under `/assets/`.
pub(crate) const ASSETS: &[Asset] = &[
    asset!("src", "app.js", JS),
    asset!("src", "board.js", JS),
    asset!("src", "terminal.js", JS),
    asset!("src", "audit.js", JS),
    asset!("src", "plots.js", JS),
    asset!("src", "app.css", CSS),
    asset!("vendor", "xterm.mjs", JS),
    asset!("vendor", "xterm.css", CSS),
];

/// The asset called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_embedded_assets() {
        let page = std::str::from_utf8(INDEX.body).unwrap();
        for reference in page.split("/assets/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(
                find(name).is_some(),
                "index.html refers to /assets/{name}, not embedded"
            );
        }
        let xterm = std::str::from_utf8(find("xterm.mjs").unwrap().body).unwrap();
        assert!(
            xterm.contains("export{"),
            "vendor/xterm.mjs is not the ES module build"
        );
        assert!(
            !xterm.contains("sourceMappingURL"),
            "vendor/xterm.mjs still names a source map"
        );
    }
}
