//! The desk dashboard: one HTML page (inline CSS and script, no build step,
//! no CDN, no request to anywhere but the server it came from) that the
//! desk server serves at `/`.
//!
//! The page opens the desk WebSocket at `/ws` on its own host (passing on
//! the page's `?token=`), reconnects with backoff, and draws from the
//! protocol's messages (`snapshot`, `alert`, `status`, `dropped`): a grid
//! of venues by symbols coloured by state, the open incidents with their
//! timelines, and a price chart per symbol with flagged moments marked.
//! It must never fetch an external asset nor trust text from the wire as
//! markup (everything is set as text, never as HTML).

/// The dashboard page, served as is at `/`.
pub const INDEX_HTML: &str = include_str!("index.html");

#[cfg(test)]
mod tests {
    use super::INDEX_HTML;

    #[test]
    fn the_page_is_whole_and_fetches_nothing_external() {
        assert!(INDEX_HTML.starts_with("<!DOCTYPE html>"));
        assert!(INDEX_HTML.trim_end().ends_with("</html>"));
        for id in [
            "id=\"grid\"",
            "id=\"incidents\"",
            "id=\"connection\"",
            "id=\"charts\"",
        ] {
            assert!(INDEX_HTML.contains(id), "{id}");
        }
        // The page connects back to its own host only.
        assert!(INDEX_HTML.contains("location.host + '/ws'"));
        // (The SVG namespace is a name, not an address.)
        let page = INDEX_HTML.replace("'http://www.w3.org/2000/svg'", "");
        for external in [
            "http://",
            "https://",
            "<script src",
            "<link",
            "@import",
            "cdn",
        ] {
            assert!(!page.contains(external), "{external}");
        }
        // Text from the wire is never parsed as markup.
        assert!(!INDEX_HTML.contains("innerHTML"));
        assert!(INDEX_HTML.is_ascii(), "served bytes need no charset guess");
    }
}
