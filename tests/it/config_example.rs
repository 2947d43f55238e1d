//! The documented example config is exactly the built-in defaults, key for
//! key, so the documentation cannot drift from the code.

use feedwatch::config::Config;
use std::path::Path;

#[test]
fn example_config_lists_every_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("feedwatch.example.toml");
    assert_eq!(Config::load(&path).unwrap(), Config::default());
    // Same keys and values as the defaults serialized: a key missing from
    // the file (it would still load, as a default) fails here.
    let text = std::fs::read_to_string(&path).unwrap();
    let file: toml::Table = toml::from_str(&text).unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    assert_eq!(file, defaults);
}
